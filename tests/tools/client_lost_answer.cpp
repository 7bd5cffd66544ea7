// Simulates a checkout whose answer is lost after the server committed it,
// for tests/integration/test_client_lib.py. It uses libentitle's internals
// (entitle_client_static) to put a transport between the client and the
// network that forwards each POST /v1/leases to the real server and then
// throws the first LOSE answers away, as a dropped connection would.
//
//   client_lost_answer CONFIG STATE_DIR|- FEATURE GPU VGPU LOSE ATTEMPTS
//
// Prints one JSON object: {"status","message","lease_id","posts","request_ids"}.
// Exit 0 when the checkout succeeded, 1 when it failed, 2 on bad usage.
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "client.hpp"
#include "host_config.hpp"
#include "https_transport.hpp"

namespace {

using namespace entitle::lib;

class LosingTransport final : public Transport {
  public:
    LosingTransport(std::unique_ptr<Transport> real, int lose)
        : real_(std::move(real)), lose_(lose) {}

    Outcome<HttpResponse> exchange(const HttpRequest& request,
                                   std::chrono::milliseconds timeout) override {
        auto response = real_->exchange(request, timeout);
        if (request.method != "POST" || request.target != "/v1/leases") return response;
        const std::lock_guard lock(mu_);
        const auto body = nlohmann::json::parse(request.body);
        request_ids_.push_back(body.at("request_id").get<std::string>());
        if (response && lose_ > 0) {
            --lose_;
            return fail(ENTITLE_UNAVAILABLE, "the answer was lost (simulated)");
        }
        return response;
    }

    std::vector<std::string> request_ids() {
        const std::lock_guard lock(mu_);
        return request_ids_;
    }

  private:
    std::unique_ptr<Transport> real_;
    std::mutex mu_;
    int lose_;
    std::vector<std::string> request_ids_;
};

}  // namespace

int main(int argc, char** argv) {
    if (argc != 8) {
        std::cerr << "usage: client_lost_answer CONFIG STATE_DIR|- FEATURE GPU VGPU LOSE "
                     "ATTEMPTS\n";
        return 2;
    }
    auto loaded = load_host_config(argv[1]);
    if (!loaded) {
        std::cerr << loaded.error().message << '\n';
        return 1;
    }
    auto https = make_https_transport(loaded->config.server, loaded->config.ca_pem);
    if (!https) {
        std::cerr << https.error().message << '\n';
        return 1;
    }
    auto losing = std::make_unique<LosingTransport>(std::move(*https), std::atoi(argv[6]));
    LosingTransport* observer = losing.get();
    Client client(std::move(loaded->config), std::move(losing));
    client.set_retry({std::atoi(argv[7]), 20, 100});
    if (std::string(argv[2]) != "-") {
        if (auto ok = client.set_state_dir(argv[2]); !ok) {
            std::cerr << ok.error().message << '\n';
            return 1;
        }
    }
    auto lease = client.checkout({argv[3], argv[4], argv[5], std::nullopt});
    nlohmann::json out = {{"status", status_name(lease ? ENTITLE_OK : lease.error().status)},
                          {"message", lease ? "" : lease.error().message},
                          {"lease_id", lease ? lease->lease.lease_id : ""},
                          {"posts", observer->request_ids().size()},
                          {"request_ids", observer->request_ids()}};
    std::cout << out.dump() << '\n';
    return lease ? 0 : 1;
}

#include "load_generator.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <thread>

#include "crypto/ordered_id.hpp"

namespace entitle::bench {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using Clock = std::chrono::steady_clock;

std::uint64_t LoadResult::error_count() const {
    std::uint64_t n = 0;
    for (const auto& [_, c] : errors) n += c;
    return n;
}

namespace {

struct Shared {
    const LoadOptions& options;
    Clock::time_point start;
    Clock::time_point deadline;
    std::atomic<std::uint64_t> issued{0};
    std::atomic<std::int64_t> held{0};
    std::atomic<std::int64_t> max_held{0};
};

struct Worker {
    asio::io_context io;
    ssl::context& tls;
    Shared& shared;
    LoadResult result;
    Worker(ssl::context& t, Shared& s) : tls(t), shared(s) {}
};

std::string extract_lease_id(const std::string& body) {
    static constexpr std::string_view key = "\"lease_id\":\"";
    const auto at = body.find(key);
    if (at == std::string::npos) return {};
    const auto from = at + key.size();
    const auto to = body.find('"', from);
    return to == std::string::npos ? std::string{} : body.substr(from, to - from);
}

class Connection : public std::enable_shared_from_this<Connection> {
  public:
    Connection(Worker& w, std::size_t index, std::vector<std::size_t> leases)
        : w_(w), opt_(w.shared.options), index_(index), timer_(w.io), leases_(std::move(leases)) {
        if (opt_.rate > 0) {
            interval_ = std::chrono::duration_cast<Clock::duration>(
                std::chrono::duration<double>(static_cast<double>(opt_.connections) / opt_.rate));
            // Spread the first requests over one interval instead of a burst.
            due_ = w.shared.start +
                   interval_ * static_cast<long>(index_) / static_cast<long>(opt_.connections);
        }
        step_ = opt_.workload == Workload::renew ? Step::renew : Step::checkout;
    }

    void start() { connect(); }

  private:
    enum class Step { checkout, release, renew };
    using Stream = beast::ssl_stream<beast::tcp_stream>;

    void connect() {
        if (finished()) return;
        stream_.emplace(w_.io, w_.tls);
        buffer_.clear();
        if (!SSL_set_tlsext_host_name(stream_->native_handle(), opt_.host.c_str())) {
            // An IP literal has no SNI; that is fine.
        }
        stream_->set_verify_callback(ssl::host_name_verification(opt_.host));
        const asio::ip::tcp::endpoint ep(asio::ip::make_address(opt_.host),
                                         static_cast<unsigned short>(std::stoi(opt_.port)));
        beast::get_lowest_layer(*stream_).expires_after(std::chrono::seconds(30));
        beast::get_lowest_layer(*stream_).async_connect(ep, [self = shared_from_this()](
                                                                beast::error_code ec) {
            if (ec) return self->fail("connect", ec);
            self->stream_->async_handshake(ssl::stream_base::client, [self](beast::error_code ec2) {
                if (ec2) return self->fail("handshake", ec2);
                ++self->w_.result.connects;
                beast::get_lowest_layer(*self->stream_)
                    .socket()
                    .set_option(asio::ip::tcp::no_delay(true));
                self->next();
            });
        });
    }

    bool finished() const {
        if (done_) return true;
        if (Clock::now() >= w_.shared.deadline) return true;
        return false;
    }

    void stop() {
        done_ = true;
        if (stream_) {
            beast::error_code ignored;  // closing after the run; the peer's view does not matter
            beast::get_lowest_layer(*stream_).socket().close(ignored);
        }
    }

    void next() {
        // A granted lease is always released, even past the deadline (one
        // request more per connection), so a run leaves no seat taken.
        if (done_ || (step_ != Step::release && finished())) return stop();
        if (step_ == Step::renew && leases_.empty()) return stop();
        if (opt_.once && step_ == Step::renew && pos_ >= leases_.size()) return stop();
        // Count bound: a release of a granted lease is always sent, never cut off.
        if (step_ != Step::release && w_.shared.issued.fetch_add(1) >= opt_.max_requests)
            return stop();
        if (opt_.rate > 0) {
            const auto now = Clock::now();
            if (due_ > now) {
                timer_.expires_at(due_);
                timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
                    if (ec) return;
                    self->send(self->due_);
                });
                return;
            }
            return send(due_);
        }
        send(Clock::now());
    }

    void send(Clock::time_point from) {
        from_ = from;
        req_ = {};
        req_.version(11);
        req_.set(http::field::host, opt_.host + ":" + opt_.port);
        req_.keep_alive(true);
        switch (step_) {
            case Step::checkout: {
                host_ = (index_ + opt_.connections * n_) % opt_.hosts.size();
                req_.method(http::verb::post);
                req_.target("/v1/leases");
                req_.set(http::field::content_type, "application/json");
                // A request id as libentitle makes one (its wall clock, then
                // random bits): unique across runs against one server.
                const auto wall_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                         std::chrono::system_clock::now().time_since_epoch())
                                         .count();
                req_.body() = fmt::format(
                    R"({{"request_id":"{}","feature":"{}","gpu":{{"uuid":"GPU-{}-{}"}},"vgpu":{{"id":"vm-{}-{}"}}}})",
                    crypto::time_ordered_id("rq_", wall_ms, 12), opt_.feature, index_, n_ % 8,
                    index_, n_);
                ++n_;
                break;
            }
            case Step::release:
                req_.method(http::verb::delete_);
                req_.target("/v1/leases/" + lease_id_);
                break;
            case Step::renew: {
                const auto& l = opt_.leases[leases_[pos_ % leases_.size()]];
                host_ = l.host_index;
                req_.method(http::verb::post);
                req_.target("/v1/leases/" + l.lease_id + "/renew");
                break;
            }
        }
        req_.set(http::field::authorization, "Bearer " + opt_.hosts[host_].token);
        req_.prepare_payload();
        beast::get_lowest_layer(*stream_).expires_after(std::chrono::seconds(30));
        http::async_write(*stream_, req_,
                          [self = shared_from_this()](beast::error_code ec, std::size_t) {
                              if (ec) return self->fail("write", ec);
                              self->res_ = {};
                              http::async_read(*self->stream_, self->buffer_, self->res_,
                                               [self](beast::error_code ec2, std::size_t) {
                                                   if (ec2) return self->fail("read", ec2);
                                                   self->on_answer();
                                               });
                          });
    }

    void on_answer() {
        const auto now = Clock::now();
        const auto micros = static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(now - from_).count());
        auto& r = w_.result;
        const int status = static_cast<int>(res_.result_int());
        r.all.record(micros);
        if (opt_.rate > 0) due_ += interval_;
        switch (step_) {
            case Step::checkout:
                r.checkout.record(micros);
                if (status == 201) {
                    ++r.requests;
                    lease_id_ = extract_lease_id(res_.body());
                    if (lease_id_.empty()) {
                        ++r.errors["checkout answer without lease_id"];
                        break;
                    }
                    if (opt_.workload == Workload::contend) {
                        const auto held = w_.shared.held.fetch_add(1) + 1;
                        auto seen = w_.shared.max_held.load();
                        while (held > seen &&
                               !w_.shared.max_held.compare_exchange_weak(seen, held)) {
                        }
                    }
                    step_ = Step::release;
                } else if (status == 409 && opt_.workload == Workload::contend) {
                    ++r.requests;
                    ++r.refused;
                } else {
                    ++r.errors[fmt::format("checkout status {}", status)];
                }
                break;
            case Step::release:
                r.release.record(micros);
                if (status == 204 || status == 200) {
                    ++r.requests;
                    ++r.cycles;
                    if (opt_.workload == Workload::contend) w_.shared.held.fetch_sub(1);
                    step_ = Step::checkout;
                } else {
                    ++r.errors[fmt::format("release status {}", status)];
                    // A release that failed is retried: the seat must come back.
                }
                break;
            case Step::renew:
                r.renew.record(micros);
                if (status == 200) {
                    ++r.requests;
                    ++r.cycles;
                } else {
                    ++r.errors[fmt::format("renew status {}", status)];
                }
                ++pos_;
                break;
        }
        if (!res_.keep_alive()) {
            stream_.reset();
            return connect();
        }
        next();
    }

    void fail(const char* what, beast::error_code ec) {
        if (done_) return;
        if (Clock::now() >= w_.shared.deadline) return stop();
        ++w_.result.errors[fmt::format("{}: {}", what, ec.message())];
        stream_.reset();
        // The request in flight is lost: a renewal moves on, a checkout is
        // sent again with a new request_id, a release is sent again.
        if (step_ == Step::renew) ++pos_;
        timer_.expires_after(std::chrono::milliseconds(10));
        timer_.async_wait([self = shared_from_this()](beast::error_code e) {
            if (!e) self->connect();
        });
    }

    Worker& w_;
    const LoadOptions& opt_;
    std::size_t index_;
    asio::steady_timer timer_;
    std::optional<Stream> stream_;
    beast::flat_buffer buffer_;
    http::request<http::string_body> req_;
    http::response<http::string_body> res_;
    std::vector<std::size_t> leases_;  // indexes into options.leases
    std::size_t pos_ = 0;
    std::size_t host_ = 0;
    std::uint64_t n_ = 0;
    std::string lease_id_;
    Step step_;
    bool done_ = false;
    Clock::duration interval_{};
    Clock::time_point due_{};
    Clock::time_point from_{};
};

}  // namespace

LoadResult run_load(const LoadOptions& options) {
    if (options.hosts.empty()) throw std::invalid_argument("no hosts to act for");
    if (options.connections == 0 || options.threads == 0)
        throw std::invalid_argument("connections and threads must be > 0");
    ssl::context tls(ssl::context::tls_client);
    tls.load_verify_file(options.ca_file);
    tls.set_verify_mode(ssl::verify_peer);
    // Both the server and the ceiling (nginx) are measured over TLS 1.3.
    SSL_CTX_set_min_proto_version(tls.native_handle(), TLS1_3_VERSION);

    // Renewals: connection c acts for the hosts h with h % connections == c,
    // so every host's renewals travel over one connection, as after an outage.
    std::vector<std::vector<std::size_t>> per_conn(options.connections);
    for (std::size_t i = 0; i < options.leases.size(); ++i) {
        per_conn[options.leases[i].host_index % options.connections].push_back(i);
    }

    Shared shared{options, Clock::now(), {}};
    std::vector<std::unique_ptr<Worker>> workers;
    for (std::size_t t = 0; t < options.threads; ++t)
        workers.push_back(std::make_unique<Worker>(tls, shared));
    shared.start = Clock::now();
    shared.deadline = shared.start + std::chrono::duration_cast<Clock::duration>(
                                         std::chrono::duration<double>(options.seconds));
    for (std::size_t c = 0; c < options.connections; ++c) {
        auto& w = *workers[c % workers.size()];
        std::make_shared<Connection>(w, c, std::move(per_conn[c]))->start();
    }
    std::vector<std::thread> threads;
    for (auto& w : workers) threads.emplace_back([&w] { w->io.run(); });
    for (auto& t : threads) t.join();

    LoadResult total;
    total.elapsed_seconds = std::chrono::duration<double>(Clock::now() - shared.start).count();
    for (auto& w : workers) {
        const auto& r = w->result;
        total.requests += r.requests;
        total.cycles += r.cycles;
        total.refused += r.refused;
        total.connects += r.connects;
        for (const auto& [k, v] : r.errors) total.errors[k] += v;
        total.all.merge(r.all);
        total.checkout.merge(r.checkout);
        total.release.merge(r.release);
        total.renew.merge(r.renew);
    }
    total.max_held = static_cast<std::uint64_t>(shared.max_held.load());
    return total;
}

}  // namespace entitle::bench

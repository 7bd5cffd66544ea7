// Scenarios of libentitle's public C++ API (entitle.hpp over the shared
// library) against a real server, for tests/integration/test_client_lib.py.
//
//   client_scenarios threads CONFIG FEATURE THREADS ROUNDS
//       THREADS threads share one handle (and its renewer thread); each
//       checks out, verifies, renews, lists and releases ROUNDS leases of its
//       own vGPUs. Prints a JSON summary; exit 0 when every call succeeded
//       and nothing is held after.
//   client_scenarios skew CONFIG FEATURE LEASE_SECONDS
//       The host's wall clock is faked an hour ahead, then an hour behind,
//       through entitle_client_set_clock; the monotonic clock is faked too so
//       that a lease can be aged without waiting. Exit 0 when a fresh lease
//       verifies and an aged one is expired in both cases.
//
// Exit 1 when a check fails (the reason on stderr), 2 on bad usage.
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <entitle/entitle.hpp>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace ec = entitle::client;

namespace {

std::int64_t steady_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

std::int64_t wall_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

int threads_scenario(const std::string& config, const std::string& feature, int thread_count,
                     int rounds) {
    ec::Client client(config);
    client.set_retry(5, 50, 500);
    std::mutex errors_mu;
    std::vector<std::string> errors;
    std::atomic<int> checkouts{0};
    std::atomic<int> renewals{0};
    std::atomic<int> releases{0};
    const auto note = [&](const std::string& what) {
        const std::lock_guard lock(errors_mu);
        errors.push_back(what);
    };

    // The renewer runs beside the threads, reading the held leases they change.
    std::atomic<int> lost{0};
    client.start_renewer([&](const std::string&, const std::string&, ec::Status) { ++lost; });

    std::vector<std::thread> threads;
    for (int t = 0; t < thread_count; ++t) {
        threads.emplace_back([&, t] {
            for (int r = 0; r < rounds; ++r) {
                const std::string vgpu = "vgpu-t" + std::to_string(t) + "-r" + std::to_string(r);
                try {
                    const auto lease = client.checkout(feature, "GPU-" + std::to_string(t), vgpu);
                    ++checkouts;
                    if (!lease.token_verified || lease.vgpu_id != vgpu) {
                        note(vgpu + ": checkout answered a lease for " + lease.vgpu_id);
                    }
                    if (client.verify(lease.lease_id) <= 0) note(vgpu + ": no time left");
                    const auto renewed = client.renew(lease.lease_id);
                    ++renewals;
                    if (renewed.lease_id != lease.lease_id) note(vgpu + ": renew changed the id");
                    bool listed = false;
                    for (const auto& held : client.held_leases()) {
                        listed = listed || held.lease_id == lease.lease_id;
                    }
                    if (!listed) note(vgpu + ": not among the held leases");
                    client.release(lease.lease_id);
                    ++releases;
                    try {
                        (void)client.verify(lease.lease_id);
                        note(vgpu + ": still held after release");
                    } catch (const ec::Error& e) {
                        if (e.status() != ec::Status::not_found) {
                            note(vgpu + ": verify after release: " + e.what());
                        }
                    }
                } catch (const ec::Error& e) {
                    note(vgpu + ": " + e.code() + ": " + e.what());
                }
            }
        });
    }
    for (auto& t : threads) t.join();
    client.stop_renewer();
    if (lost.load() != 0) note("the renewer lost " + std::to_string(lost.load()) + " lease(s)");
    const auto left = client.held_leases().size();
    std::cout << "{\"checkouts\":" << checkouts << ",\"renewals\":" << renewals
              << ",\"releases\":" << releases << ",\"held_after\":" << left
              << ",\"errors\":" << errors.size() << "}\n";
    for (const auto& e : errors) std::cerr << e << '\n';
    return errors.empty() && left == 0 ? 0 : 1;
}

bool expect(bool condition, const std::string& what) {
    if (!condition) std::cerr << "FAILED: " << what << '\n';
    return condition;
}

int skew_scenario(const std::string& config, const std::string& feature,
                  std::int64_t lease_seconds) {
    std::atomic<std::int64_t> mono_offset_ms{0};
    std::atomic<std::int64_t> wall_offset_ms{3600 * 1000};  // the host is an hour ahead
    ec::Client client(config);
    client.set_clock([&] { return steady_ms() + mono_offset_ms.load(); },
                     [&] { return wall_ms() + wall_offset_ms.load(); });
    bool ok = true;

    // An hour ahead: exp is already "past" by the host's wall clock.
    const auto fresh = client.checkout(feature, "GPU-skew", "vgpu-skew-fresh");
    const auto left = client.verify(fresh.lease_id);
    ok &= expect(left > lease_seconds - 5 && left <= lease_seconds,
                 "a fresh lease with the host clock +1h keeps its whole lifetime, left=" +
                     std::to_string(left));
    const auto skew = client.clock_skew();
    ok &= expect(skew && *skew <= -3590 && *skew >= -3610,
                 "the skew is reported as about -3600 s (server minus host)");
    // Judged by the wall clock corrected by the measured skew, not raw.
    ok &= expect(client.verify_token(fresh.token).seconds_left > 0,
                 "the token verifies with the skew taken into account");

    // Aged past its lifetime on the monotonic clock: expired, whatever the
    // wall clock says (an hour behind would make it look alive).
    mono_offset_ms += (lease_seconds + 2) * 1000;
    wall_offset_ms = -3600 * 1000;
    try {
        (void)client.verify(fresh.lease_id);
        ok &= expect(false, "an aged lease with the host clock -1h must be expired");
    } catch (const ec::Error& e) {
        ok &= expect(e.status() == ec::Status::expired,
                     std::string("aged lease: expected expired, got ") + e.code());
    }
    for (const auto& l : client.held_leases()) {
        if (l.lease_id == fresh.lease_id) {
            ok &= expect(l.seconds_left <= 0, "the held list shows the aged lease as lapsed");
        }
    }

    // An hour ahead again, a second lease aged too: expired as well.
    wall_offset_ms = 3600 * 1000;
    const auto second = client.checkout(feature, "GPU-skew", "vgpu-skew-second");
    ok &= expect(client.verify(second.lease_id) > lease_seconds - 5,
                 "a second fresh lease is valid with the clock +1h");
    mono_offset_ms += (lease_seconds + 2) * 1000;
    try {
        (void)client.verify(second.lease_id);
        ok &= expect(false, "the second lease aged must be expired");
    } catch (const ec::Error& e) {
        ok &= expect(e.status() == ec::Status::expired, "second aged lease expired");
    }
    client.release(fresh.lease_id);
    client.release(second.lease_id);
    std::cout << (ok ? "skew ok" : "skew FAILED") << '\n';
    return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    const std::vector<std::string> args(argv + 1, argv + argc);
    try {
        if (args.size() == 5 && args[0] == "threads") {
            return threads_scenario(args[1], args[2], std::atoi(args[3].c_str()),
                                    std::atoi(args[4].c_str()));
        }
        if (args.size() == 4 && args[0] == "skew") {
            return skew_scenario(args[1], args[2], std::atoll(args[3].c_str()));
        }
    } catch (const ec::Error& e) {
        std::cerr << e.code() << ": " << e.what() << '\n';
        return 1;
    }
    std::cerr << "usage: client_scenarios threads CONFIG FEATURE THREADS ROUNDS\n"
                 "       client_scenarios skew CONFIG FEATURE LEASE_SECONDS\n";
    return 2;
}

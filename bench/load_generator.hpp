// The load generator behind entitle-bench: many keep-alive TLS connections
// (Beast over Asio), each acting for one simulated host at a time, driven
// closed-loop (send the next request when the answer arrives) or open-loop
// (requests due at a fixed rate; latency counts from when a request was due,
// so a slow server cannot hide its queue).
//
// Every run is bounded in time (`seconds`) and in count (`max_requests`).
// Thread rules: run() blocks; it owns its io_contexts and threads.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "latency_histogram.hpp"

namespace entitle::bench {

struct HostCredential {
    std::string host_id;
    std::string token;
};

// A lease the renew workload renews, owned by hosts[host_index].
struct SeededLease {
    std::size_t host_index = 0;
    std::string lease_id;
};

enum class Workload {
    cycle,    // checkout, then release the lease just granted
    contend,  // checkout; release when granted; refusals (409) are expected answers
    renew,    // renew leases round-robin (or each once with `once`)
};

struct LoadOptions {
    std::string host = "127.0.0.1";
    std::string port;
    std::string ca_file;
    Workload workload = Workload::cycle;
    std::string feature = "vWS";
    std::size_t connections = 64;
    std::size_t threads = 1;
    double seconds = 10;
    std::uint64_t max_requests = 10'000'000;
    double rate = 0;    // open loop: requests per second over all connections; 0 = closed loop
    bool once = false;  // renew: each lease once, then stop
    std::vector<HostCredential> hosts;
    std::vector<SeededLease> leases;
};

struct LoadResult {
    double elapsed_seconds = 0;
    std::uint64_t requests = 0;  // answered with the expected status
    std::uint64_t cycles = 0;  // checkout+release pairs (cycle), grants (contend), renewals (renew)
    std::uint64_t refused = 0;                    // contend: 409 oversubscribed
    std::uint64_t connects = 0;                   // TLS connections opened
    std::uint64_t max_held = 0;                   // contend: most leases this client held at once
    std::map<std::string, std::uint64_t> errors;  // "status 503", "connect: ...", ...
    LatencyHistogram all, checkout, release, renew;
    [[nodiscard]] std::uint64_t error_count() const;
};

[[nodiscard]] LoadResult run_load(const LoadOptions& options);

}  // namespace entitle::bench

// Usage per entitlement and time bucket, computed exactly from lease spans
// (no sampling: a seat held for three seconds shows in the peak). Pure
// functions over History; no I/O, no clock.
//
// Seats in use at time t: for concurrent and subscription entitlements the
// leases whose span [start, end) contains t; for per_device the distinct
// GPUs with at least one such lease. Times are whole Unix seconds, so a lease
// that began and ended within one second holds no seat time and does not
// raise the peak, but is counted as a lease.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <vector>

#include "entitle_report/history.hpp"

namespace entitle::report {

inline constexpr std::int64_t kMaxBuckets = 200'000;  // per report, over all entitlements

struct ReportRange {
    std::int64_t from = 0;  // inclusive, Unix seconds
    std::int64_t to = 0;    // exclusive
    std::int64_t bucket_seconds = 86'400;
};

struct BucketUsage {
    std::int64_t start = 0;  // bucket start, clipped to the range
    std::int64_t end = 0;    // exclusive, clipped to the range
    bool in_force = false;   // the entitlement granted seats during part of the bucket
    // Licensed seats and the overage limit while in force: none means
    // unlimited; both are 0 when the entitlement was not in force.
    std::optional<std::int64_t> licensed;
    std::optional<std::int64_t> limit;
    std::int64_t peak = 0;           // most seats in use at once
    std::int64_t seat_seconds = 0;   // integral of seats in use over the bucket
    std::int64_t leases = 0;         // leases that held a seat (or began) in the bucket
    std::int64_t lease_seconds = 0;  // sum of the leases' time in the bucket

    // seat_seconds / (end - start): the mean of seats in use.
    [[nodiscard]] double average() const;
};

// Seats in use from `at` until the next step (or the end of the range).
struct UsageStep {
    std::int64_t at = 0;
    std::int64_t in_use = 0;
};

struct EntitlementUsage {
    EntitlementInfo entitlement;
    std::vector<BucketUsage> buckets;  // those in which it was in force, or held or began a lease
    std::int64_t peak = 0;             // over the whole range
    std::optional<std::int64_t> peak_at;  // first moment the peak was reached
    std::int64_t seat_seconds = 0;
    std::int64_t leases = 0;  // distinct leases counted in the range
    std::int64_t lease_seconds = 0;
    std::vector<UsageStep> steps;  // exact seats in use over the range, first at `from`
};

// Every entitlement that was in force or held a lease during the range, in
// key order. Fails (with a message for the user) when the range would need
// more than kMaxBuckets buckets.
[[nodiscard]] std::expected<std::vector<EntitlementUsage>, std::string> compute_usage(
    const History& history, const ReportRange& range);

// Bucket size for --bucket hour|day.
[[nodiscard]] std::optional<std::int64_t> bucket_seconds_named(std::string_view name);

}  // namespace entitle::report

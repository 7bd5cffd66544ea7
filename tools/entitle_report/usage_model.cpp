#include "entitle_report/usage_model.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>

namespace entitle::report {

namespace {

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
    return a / b - ((a % b != 0) && ((a < 0) != (b < 0)) ? 1 : 0);
}

struct Interval {
    std::int64_t start;
    std::int64_t end;
};

// Seat intervals: one per lease span, or for per_device one per stretch of
// time a GPU held at least one lease (overlapping or touching spans merged).
std::vector<Interval> seat_intervals(const std::string& model,
                                     const std::vector<const LeaseSpan*>& spans) {
    std::vector<Interval> out;
    if (model != "per_device") {
        for (const auto* s : spans) {
            if (s->end > s->start) out.push_back({s->start, s->end});
        }
        return out;
    }
    std::map<std::string, std::vector<Interval>> by_gpu;
    for (const auto* s : spans) {
        if (s->end > s->start) by_gpu[s->gpu].push_back({s->start, s->end});
    }
    for (auto& [gpu, list] : by_gpu) {
        std::sort(list.begin(), list.end(),
                  [](const Interval& a, const Interval& b) { return a.start < b.start; });
        Interval current = list.front();
        for (std::size_t i = 1; i < list.size(); ++i) {
            if (list[i].start <= current.end) {
                current.end = std::max(current.end, list[i].end);
            } else {
                out.push_back(current);
                current = list[i];
            }
        }
        out.push_back(current);
    }
    return out;
}

// The exact step function of seats in use over [from, to).
std::vector<UsageStep> steps_of(const std::vector<Interval>& seats, const ReportRange& range) {
    std::map<std::int64_t, std::int64_t> delta;
    for (const auto& s : seats) {
        delta[s.start] += 1;
        delta[s.end] -= 1;
    }
    std::vector<UsageStep> steps;
    std::int64_t level = 0;
    auto it = delta.begin();
    for (; it != delta.end() && it->first <= range.from; ++it) level += it->second;
    steps.push_back({range.from, level});
    for (; it != delta.end() && it->first < range.to; ++it) {
        if (it->second == 0) continue;  // a seat ended and another began at the same second
        level += it->second;
        steps.push_back({it->first, level});
    }
    return steps;
}

bool overlaps(std::int64_t a_start, std::optional<std::int64_t> a_end, std::int64_t b_start,
              std::int64_t b_end) {
    const std::int64_t end = a_end.value_or(b_end);
    return std::max(a_start, b_start) < std::min(end, b_end);
}

}  // namespace

double BucketUsage::average() const {
    const std::int64_t seconds = end - start;
    return seconds > 0 ? static_cast<double>(seat_seconds) / static_cast<double>(seconds) : 0.0;
}

std::optional<std::int64_t> bucket_seconds_named(std::string_view name) {
    if (name == "hour") return 3'600;
    if (name == "day") return 86'400;
    return std::nullopt;
}

std::expected<std::vector<EntitlementUsage>, std::string> compute_usage(const History& history,
                                                                        const ReportRange& range) {
    if (range.bucket_seconds <= 0 || range.to <= range.from) {
        return std::unexpected(std::string("the report range is empty"));
    }
    const std::int64_t b = range.bucket_seconds;
    const std::int64_t first_bucket = floor_div(range.from, b) * b;
    const std::int64_t bucket_count = floor_div(range.to - 1 - first_bucket, b) + 1;
    if (bucket_count > kMaxBuckets) {
        return std::unexpected(fmt::format(
            "the range holds {} buckets, more than {}: narrow --from/--to or use a larger --bucket",
            bucket_count, kMaxBuckets));
    }

    std::unordered_map<std::string, std::vector<const LeaseSpan*>> spans_of;
    for (const auto& s : history.spans) spans_of[s.entitlement_key].push_back(&s);

    std::vector<EntitlementUsage> out;
    std::int64_t buckets_used = 0;
    for (const auto& ent : history.entitlements) {
        const auto found = spans_of.find(ent.key);
        static const std::vector<const LeaseSpan*> kNone;
        const auto& spans = found == spans_of.end() ? kNone : found->second;

        const auto in_force_from = ent.in_force_from();
        const auto in_force_until = ent.in_force_until();
        const bool ever_in_force = overlaps(in_force_from, in_force_until, range.from, range.to);

        EntitlementUsage u;
        u.entitlement = ent;
        u.steps = steps_of(seat_intervals(ent.model, spans), range);

        std::vector<BucketUsage> buckets(static_cast<std::size_t>(bucket_count));
        for (std::int64_t i = 0; i < bucket_count; ++i) {
            auto& bu = buckets[static_cast<std::size_t>(i)];
            bu.start = std::max(range.from, first_bucket + i * b);
            bu.end = std::min(range.to, first_bucket + (i + 1) * b);
            bu.in_force = overlaps(in_force_from, in_force_until, bu.start, bu.end);
            bu.licensed = bu.in_force ? ent.count : std::optional<std::int64_t>(0);
            bu.limit = bu.in_force ? ent.seat_limit() : std::optional<std::int64_t>(0);
        }
        auto bucket_index = [&](std::int64_t t) {
            return static_cast<std::size_t>(floor_div(t - first_bucket, b));
        };

        // Seats: walk the steps; each holds its level over [at, next).
        for (std::size_t k = 0; k < u.steps.size(); ++k) {
            const std::int64_t s = u.steps[k].at;
            const std::int64_t e = k + 1 < u.steps.size() ? u.steps[k + 1].at : range.to;
            const std::int64_t level = u.steps[k].in_use;
            if (e <= s) continue;
            if (level > u.peak) {
                u.peak = level;
                u.peak_at = s;
            }
            u.seat_seconds += level * (e - s);
            for (std::size_t i = bucket_index(s); i <= bucket_index(e - 1); ++i) {
                auto& bu = buckets[i];
                const std::int64_t overlap = std::min(e, bu.end) - std::max(s, bu.start);
                if (overlap <= 0) continue;
                bu.peak = std::max(bu.peak, level);
                bu.seat_seconds += level * overlap;
            }
        }
        if (u.peak == 0) u.peak_at.reset();

        // Leases: one per span touching the range; a zero-length span counts
        // in the bucket holding its instant.
        std::set<std::string> leases_seen;
        for (const auto* sp : spans) {
            const std::int64_t s = std::max(sp->start, range.from);
            const std::int64_t e = std::min(sp->end, range.to);
            const bool instant =
                sp->start == sp->end && sp->start >= range.from && sp->start < range.to;
            if (e <= s && !instant) continue;
            leases_seen.insert(sp->lease_id);
            if (instant) {
                buckets[bucket_index(s)].leases += 1;
                continue;
            }
            u.lease_seconds += e - s;
            for (std::size_t i = bucket_index(s); i <= bucket_index(e - 1); ++i) {
                auto& bu = buckets[i];
                const std::int64_t overlap = std::min(e, bu.end) - std::max(s, bu.start);
                if (overlap <= 0) continue;
                bu.leases += 1;
                bu.lease_seconds += overlap;
            }
        }
        u.leases = static_cast<std::int64_t>(leases_seen.size());

        for (auto& bu : buckets) {
            if (bu.in_force || bu.leases > 0 || bu.seat_seconds > 0) {
                u.buckets.push_back(bu);
            }
        }
        if (u.buckets.empty() && !ever_in_force) continue;
        buckets_used += static_cast<std::int64_t>(u.buckets.size());
        if (buckets_used > kMaxBuckets) {
            return std::unexpected(fmt::format(
                "the report would hold more than {} rows: narrow --from/--to or use a larger "
                "--bucket",
                kMaxBuckets));
        }
        out.push_back(std::move(u));
    }
    return out;
}

}  // namespace entitle::report

// SQLite's own page cache behind a thin layer that skips truncations which
// would remove nothing.
//
// Why: at the end of every write transaction SQLite truncates its page cache
// to the database's size. Its cache (pcache1) remembers only the largest key
// it ever held, and SQLite 3.40's b-tree balance parks a page for a moment
// under the lock-byte page's number (262,145 with 4 KiB pages) while it puts
// new sibling pages in order. After that the largest key looks far beyond
// the database, and the truncation walks every hash bucket of the cache
// (thousands with the writer's 64 MiB) to find nothing: about a tenth of the
// writer's CPU under checkout load.
//
// The layer forwards every call to SQLite's default page cache unchanged and
// keeps, per cache, an upper bound of the keys the cache may hold: the
// largest key any page was fetched or moved under, with pages moved to the
// lock-byte page counted apart until they are moved away again. A truncation
// is skipped only when that bound shows no page at or above the limit, which
// is exactly when pcache1's walk would have dropped nothing; otherwise it is
// forwarded and the bound lowered. The bound only errs upwards (a page
// dropped while parked keeps the count up), and erring upwards merely
// forwards a truncation as SQLite always did.
#pragma once

#include <cstdint>

namespace entitle::store {

// Installs the layer process-wide. Must run before SQLite initialises
// (configure_sqlite_process calls it, before the first connection opens);
// false when SQLite refused (already initialised), which leaves SQLite's own
// cache in place.
bool install_page_cache_layer() noexcept;

struct PageCacheCounters {
    std::uint64_t truncations_forwarded = 0;
    std::uint64_t truncations_skipped = 0;
    std::uint64_t lock_page_moves = 0;  // pages a b-tree balance parked under the lock-byte page
};

// Since the process started, over every connection (tests read them; no
// metric does).
[[nodiscard]] PageCacheCounters page_cache_counters() noexcept;

}  // namespace entitle::store

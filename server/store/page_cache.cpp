#include "store/page_cache.hpp"

#include <sqlite3.h>

#include <atomic>
#include <new>

namespace entitle::store {

namespace {

// SQLite's default page cache, as it was before the layer went in front.
sqlite3_pcache_methods2 g_inner{};
std::atomic<std::uint64_t> g_forwarded{0};
std::atomic<std::uint64_t> g_skipped{0};
std::atomic<std::uint64_t> g_parks{0};

// The byte offset of SQLite's lock-byte page (PENDING_BYTE); only SQLite's
// own test builds move it.
constexpr unsigned kLockByteOffset = 0x40000000u;

// One per page cache (per connection's pager). A cache is used by one
// connection, and a connection by one thread at a time, so no locking.
struct Cache {
    sqlite3_pcache* inner = nullptr;
    unsigned lock_page = 0;  // the lock-byte page's number at this page size
    unsigned max_key = 0;    // no page with a larger key, except parked ones
    unsigned parked = 0;     // pages moved to lock_page and not moved away since
};

Cache* of(sqlite3_pcache* p) { return reinterpret_cast<Cache*>(p); }

int layer_init(void*) { return g_inner.xInit ? g_inner.xInit(g_inner.pArg) : SQLITE_OK; }

void layer_shutdown(void*) {
    if (g_inner.xShutdown) g_inner.xShutdown(g_inner.pArg);
}

sqlite3_pcache* layer_create(int page_size, int extra_size, int purgeable) {
    auto* c = new (std::nothrow) Cache;
    if (c == nullptr) return nullptr;
    c->inner = g_inner.xCreate(page_size, extra_size, purgeable);
    if (c->inner == nullptr) {
        delete c;
        return nullptr;
    }
    c->lock_page = page_size > 0 ? kLockByteOffset / static_cast<unsigned>(page_size) + 1 : 0;
    return reinterpret_cast<sqlite3_pcache*>(c);
}

void layer_cachesize(sqlite3_pcache* p, int pages) { g_inner.xCachesize(of(p)->inner, pages); }

int layer_pagecount(sqlite3_pcache* p) { return g_inner.xPagecount(of(p)->inner); }

sqlite3_pcache_page* layer_fetch(sqlite3_pcache* p, unsigned key, int create) {
    Cache* c = of(p);
    sqlite3_pcache_page* page = g_inner.xFetch(c->inner, key, create);
    // Any page handed out may stay in the cache under `key`.
    if (page != nullptr && key > c->max_key) c->max_key = key;
    return page;
}

void layer_unpin(sqlite3_pcache* p, sqlite3_pcache_page* page, int discard) {
    g_inner.xUnpin(of(p)->inner, page, discard);
}

void layer_rekey(sqlite3_pcache* p, sqlite3_pcache_page* page, unsigned old_key, unsigned new_key) {
    Cache* c = of(p);
    g_inner.xRekey(c->inner, page, old_key, new_key);
    // SQLite drops any page under new_key before it moves one there, so at
    // most one page is parked under lock_page at a time.
    if (old_key == c->lock_page && c->parked > 0) --c->parked;
    if (new_key == c->lock_page) {
        ++c->parked;
        g_parks.fetch_add(1, std::memory_order_relaxed);
    } else if (new_key > c->max_key) {
        c->max_key = new_key;
    }
}

void layer_truncate(sqlite3_pcache* p, unsigned limit) {
    Cache* c = of(p);
    if (c->parked == 0 && c->max_key < limit) {
        // No page at or above `limit`: pcache1 would walk its hash table to
        // drop nothing.
        g_skipped.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    g_inner.xTruncate(c->inner, limit);
    g_forwarded.fetch_add(1, std::memory_order_relaxed);
    // Every page at or above `limit` is gone now.
    if (limit <= c->lock_page) c->parked = 0;
    if (limit > 0 && c->max_key >= limit) c->max_key = limit - 1;
}

void layer_destroy(sqlite3_pcache* p) {
    Cache* c = of(p);
    g_inner.xDestroy(c->inner);
    delete c;
}

void layer_shrink(sqlite3_pcache* p) {
    if (g_inner.xShrink) g_inner.xShrink(of(p)->inner);
}

}  // namespace

bool install_page_cache_layer() noexcept {
    sqlite3_pcache_methods2 inner{};
    if (sqlite3_config(SQLITE_CONFIG_GETPCACHE2, &inner) != SQLITE_OK || inner.xCreate == nullptr ||
        inner.xFetch == nullptr || inner.xTruncate == nullptr || inner.xRekey == nullptr) {
        return false;
    }
    g_inner = inner;
    sqlite3_pcache_methods2 layer{};
    layer.iVersion = 1;  // with xShrink
    layer.pArg = nullptr;
    layer.xInit = layer_init;
    layer.xShutdown = layer_shutdown;
    layer.xCreate = layer_create;
    layer.xCachesize = layer_cachesize;
    layer.xPagecount = layer_pagecount;
    layer.xFetch = layer_fetch;
    layer.xUnpin = layer_unpin;
    layer.xRekey = layer_rekey;
    layer.xTruncate = layer_truncate;
    layer.xDestroy = layer_destroy;
    layer.xShrink = layer_shrink;
    // SQLite copies the structure.
    return sqlite3_config(SQLITE_CONFIG_PCACHE2, &layer) == SQLITE_OK;
}

PageCacheCounters page_cache_counters() noexcept {
    return {g_forwarded.load(std::memory_order_relaxed), g_skipped.load(std::memory_order_relaxed),
            g_parks.load(std::memory_order_relaxed)};
}

}  // namespace entitle::store

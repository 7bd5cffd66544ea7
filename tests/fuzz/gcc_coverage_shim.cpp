// Edge feedback for libFuzzer from GCC's -fsanitize-coverage=trace-pc.
//
// GCC calls __sanitizer_cov_trace_pc() at the start of every basic block;
// clang's libFuzzer runtime (14) does not define it, it expects inline 8-bit
// counters. So each call hashes its return address (the block) into a table
// of 8-bit counters registered with libFuzzer as one module, with a PC table
// of the same size so that libFuzzer reports cov: as well as ft:. Collisions
// only merge two blocks' counts. This file must be compiled without the
// coverage flag (it would call itself) and stays cheap: one hash, one add.
// The runtime's own __sanitizer_cov_trace_pc (a stub that exits) is made
// weak at build time (tests/fuzz/CMakeLists.txt) so that this one is used.
// trace-cmp: the runtime implements the integer compare hooks; GCC also
// instruments floating-point compares, which libFuzzer has no use for.
#include <cstddef>
#include <cstdint>

extern "C" {
void __sanitizer_cov_8bit_counters_init(std::uint8_t* begin, std::uint8_t* end);
void __sanitizer_cov_pcs_init(const std::uintptr_t* begin, const std::uintptr_t* end);
void __sanitizer_cov_trace_pc();
void __sanitizer_cov_trace_cmpf(float, float);
void __sanitizer_cov_trace_cmpd(double, double);
}

namespace {

constexpr unsigned kBits = 16;
constexpr std::size_t kCounters = std::size_t{1} << kBits;

alignas(64) std::uint8_t counters[kCounters];
// (pc, flags) pairs: the "pc" is the counter's slot, flags 0 (not a function entry).
std::uintptr_t pc_table[2 * kCounters];

__attribute__((constructor(101))) void register_counters() {
    for (std::size_t i = 0; i < kCounters; ++i) {
        pc_table[2 * i] = i + 1;
        pc_table[2 * i + 1] = 0;
    }
    __sanitizer_cov_8bit_counters_init(counters, counters + kCounters);
    __sanitizer_cov_pcs_init(pc_table, pc_table + 2 * kCounters);
}

}  // namespace

extern "C" __attribute__((no_sanitize("address", "undefined"))) void __sanitizer_cov_trace_pc() {
    const auto pc = reinterpret_cast<std::uintptr_t>(__builtin_return_address(0));
    // Fibonacci hashing: the top bits of the product mix all bits of the pc.
    const std::uint64_t h = (static_cast<std::uint64_t>(pc) * 0x9E3779B97F4A7C15ULL) >> (64 - kBits);
    ++counters[h];
}

extern "C" void __sanitizer_cov_trace_cmpf(float, float) {}
extern "C" void __sanitizer_cov_trace_cmpd(double, double) {}

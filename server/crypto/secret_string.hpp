// Bytes that must not outlive their use in memory (private key PEM, token
// secrets): wiped with OPENSSL_cleanse when destroyed, moved from or
// reassigned, so they do not linger in freed heap blocks a later core dump,
// swap page or heap overread could show. Not copyable: a copy is a second
// place to wipe.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include <openssl/crypto.h>

namespace entitle::crypto {

class SecretString {
public:
    SecretString() = default;
    explicit SecretString(std::string bytes) : bytes_(std::move(bytes)) {}
    SecretString(SecretString&& other) noexcept : bytes_(std::move(other.bytes_)) { other.wipe(); }
    SecretString& operator=(SecretString&& other) noexcept {
        if (this != &other) {
            wipe();
            bytes_ = std::move(other.bytes_);
            other.wipe();
        }
        return *this;
    }
    SecretString(const SecretString&) = delete;
    SecretString& operator=(const SecretString&) = delete;
    ~SecretString() { wipe(); }

    [[nodiscard]] std::string_view view() const noexcept { return bytes_; }
    operator std::string_view() const noexcept { return bytes_; }  // NOLINT: reading is the point
    [[nodiscard]] bool empty() const noexcept { return bytes_.empty(); }
    [[nodiscard]] std::size_t size() const noexcept { return bytes_.size(); }
    // Drops trailing characters in place (e.g. a newline), wiping them.
    void trim_trailing(std::string_view chars) {
        while (!bytes_.empty() && chars.find(bytes_.back()) != std::string_view::npos) {
            bytes_.back() = '\0';
            bytes_.pop_back();
        }
    }

private:
    void wipe() noexcept {
        // The whole capacity: a short string lives in the object itself and
        // a moved-from one keeps its old bytes there with size 0.
        OPENSSL_cleanse(bytes_.data(), bytes_.capacity());
        bytes_.clear();
    }
    std::string bytes_;
};

}  // namespace entitle::crypto

#include "https_transport.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <boost/asio/ssl.hpp>
#include <boost/beast/http.hpp>
#include <climits>

#include "https_exchange.hpp"

namespace entitle::lib {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace ssl = asio::ssl;

// An answer larger than this is refused: the biggest the contract gives a
// host is one page of GET /v1/leases, which the client asks in pages of 500.
constexpr std::uint64_t kMaxAnswerBytes = 8u << 20;

struct BioDeleter {
    void operator()(BIO* b) const noexcept { BIO_free(b); }
};
struct X509Deleter {
    void operator()(X509* x) const noexcept { X509_free(x); }
};

// Loads every certificate of `pem` into the context's store; the count.
Outcome<int> load_trust_anchors(SSL_CTX* ctx, std::string_view pem) {
    if (pem.size() > static_cast<std::size_t>(INT_MAX)) {
        return fail(ENTITLE_CONFIG_ERROR, "\"ca_pem\" is too large");
    }
    std::unique_ptr<BIO, BioDeleter> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (!bio) return fail(ENTITLE_NO_MEMORY, "cannot allocate a memory BIO");
    X509_STORE* store = SSL_CTX_get_cert_store(ctx);
    int count = 0;
    // Bounded by the PEM's length: each round consumes one certificate.
    for (;;) {
        std::unique_ptr<X509, X509Deleter> cert(
            PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
        if (!cert) break;
        if (X509_STORE_add_cert(store, cert.get()) != 1) {
            ERR_clear_error();
            return fail(ENTITLE_CONFIG_ERROR, "\"ca_pem\": a certificate cannot be added");
        }
        ++count;
    }
    ERR_clear_error();  // the loop ends on "no start line", which is expected
    if (count == 0) return fail(ENTITLE_CONFIG_ERROR, "\"ca_pem\" holds no readable certificate");
    return count;
}

// A TLS client context trusting `ca_pem` alone.
Outcome<std::unique_ptr<ssl::context>> make_context(std::string_view ca_pem) {
    auto ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
    SSL_CTX* native = ctx->native_handle();
    SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
    ctx->set_options(ssl::context::default_workarounds | ssl::context::no_compression);
    ctx->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
    auto loaded = load_trust_anchors(native, ca_pem);
    if (!loaded) return std::unexpected(loaded.error());
    return ctx;
}

class HttpsTransport final : public Transport {
  public:
    HttpsTransport(ServerUrl server, std::string ca_pem)
        : server_(std::move(server)), ca_pem_(std::move(ca_pem)) {}

    Outcome<HttpResponse> exchange(const HttpRequest& request,
                                   std::chrono::milliseconds timeout) override {
        const std::string where = server_.authority();
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        const auto verb = bhttp::string_to_verb(request.method);
        if (verb == bhttp::verb::unknown) {
            return fail(ENTITLE_INTERNAL, "unknown HTTP method " + request.method);
        }

        // A context of its own for every exchange: no OpenSSL object (the
        // trusted certificates have lazily filled caches) is shared between
        // threads, for the price of parsing ca_pem again, which is small next
        // to a handshake.
        auto ctx = make_context(ca_pem_);
        if (!ctx) return std::unexpected(ctx.error());
        HttpsExchange x(**ctx, server_);

        HttpsExchange::Request req{verb, server_.prefix + request.target, 11};
        req.set(bhttp::field::host, where);
        req.set(bhttp::field::user_agent, "libentitle/" ENTITLE_VERSION_STRING);
        req.set(bhttp::field::accept, "application/json");
        if (!request.bearer.empty())
            req.set(bhttp::field::authorization, "Bearer " + request.bearer);
        if (!request.body.empty()) req.set(bhttp::field::content_type, "application/json");
        req.keep_alive(false);
        req.body() = request.body;
        req.prepare_payload();

        const auto ms = std::to_string(timeout.count());
        if (auto failed = x.send(req, deadline)) return send_failure(*failed, where, ms);

        bhttp::response_parser<bhttp::string_body> parser;
        parser.body_limit(kMaxAnswerBytes);
        if (auto failed = x.read(parser)) return read_failure(failed->ec, where, ms);
        x.close();

        auto& msg = parser.get();
        HttpResponse out;
        out.status = static_cast<int>(msg.result_int());
        if (const auto date = msg.find(bhttp::field::date); date != msg.end()) {
            out.date = std::string(date->value());
        }
        out.body = std::move(msg.body());
        return out;
    }

  private:
    std::unexpected<Failure> send_failure(const StepError& failed, const std::string& where,
                                          const std::string& ms) const {
        using Step = StepError::Step;
        const auto& ec = failed.ec;
        switch (failed.step) {
            case Step::setup:
                return fail(ENTITLE_INTERNAL, server_.host_is_ip
                                                  ? "cannot check certificates for " + server_.host
                                                  : "cannot set the TLS server name " + server_.host);
            case Step::resolve:
                if (failed.timed_out()) {
                    return fail(ENTITLE_UNAVAILABLE,
                                "resolving " + server_.host + " took longer than " + ms + " ms");
                }
                return fail(ENTITLE_UNAVAILABLE, "cannot resolve " + server_.host + ": " + ec.message());
            case Step::connect:
                if (failed.timed_out()) {
                    return fail(ENTITLE_UNAVAILABLE,
                                "connecting to " + where + " took longer than " + ms + " ms");
                }
                return fail(ENTITLE_UNAVAILABLE, "cannot connect to " + where + ": " + ec.message());
            case Step::handshake:
                return handshake_failure(failed, where, ms);
            case Step::write:
            case Step::read:
                break;
        }
        if (failed.timed_out()) {
            return fail(ENTITLE_UNAVAILABLE,
                        "sending the request to " + where + " took longer than " + ms + " ms");
        }
        return fail(ENTITLE_UNAVAILABLE, "sending the request to " + where + " failed: " + ec.message());
    }

    static std::unexpected<Failure> read_failure(const beast::error_code& ec, const std::string& where,
                                                 const std::string& ms) {
        if (ec == beast::error::timeout) {
            return fail(ENTITLE_UNAVAILABLE, "no answer from " + where + " within " + ms + " ms");
        }
        if (ec == bhttp::error::body_limit) {
            return fail(ENTITLE_PROTOCOL_ERROR, "the answer from " + where + " is too large");
        }
        if (ec.category() == beast::error_code(bhttp::error::end_of_stream).category() &&
            ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message) {
            return fail(ENTITLE_PROTOCOL_ERROR,
                        "the answer from " + where + " is not HTTP: " + ec.message());
        }
        // The connection ended before a whole answer: the request may or may
        // not have been carried out, which is what retries are for.
        return fail(ENTITLE_UNAVAILABLE,
                    "the connection to " + where + " was lost before an answer: " + ec.message());
    }

    static std::unexpected<Failure> handshake_failure(const StepError& failed, const std::string& where,
                                                      const std::string& ms) {
        if (failed.timed_out()) {
            return fail(ENTITLE_UNAVAILABLE,
                        "TLS handshake with " + where + " took longer than " + ms + " ms");
        }
        if (failed.verify_result != X509_V_OK) {
            return fail(ENTITLE_TLS_ERROR,
                        "TLS handshake with " + where +
                            " failed: the server certificate does not verify against the "
                            "configuration's ca_pem (" +
                            X509_verify_cert_error_string(failed.verify_result) + ")");
        }
        if (failed.ec.category() == asio::error::get_ssl_category()) {
            return fail(ENTITLE_TLS_ERROR,
                        "TLS handshake with " + where + " failed: " + failed.ec.message());
        }
        // Reset or closed mid-handshake (a server going down): try again later.
        return fail(ENTITLE_UNAVAILABLE,
                    "TLS handshake with " + where + " was cut short: " + failed.ec.message());
    }

    ServerUrl server_;
    std::string ca_pem_;
};

}  // namespace

Outcome<std::unique_ptr<Transport>> make_https_transport(const ServerUrl& server,
                                                         std::string_view ca_pem) {
    // Built once here so that a ca_pem without a usable certificate is a
    // config error at open, not a failure of every request.
    auto checked = make_context(ca_pem);
    if (!checked) return std::unexpected(checked.error());
    return std::unique_ptr<Transport>(
        std::make_unique<HttpsTransport>(server, std::string(ca_pem)));
}

}  // namespace entitle::lib

#include "http/server.hpp"

#include <algorithm>
#include <atomic>
#include <ctime>
#include <unistd.h>
#include <list>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <variant>
#include <vector>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <fmt/format.h>
#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

namespace entitle::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

class Session;

struct Server::Impl : std::enable_shared_from_this<Server::Impl> {
    Impl(IoPool& io, std::shared_ptr<ssl::context> tls, Router& router, Metrics& metrics,
         ServerLimits limits, bool log_requests)
        : io(io),
          tls(std::move(tls)),
          router(router),
          metrics(metrics),
          limits(limits),
          log_requests(log_requests),
          acceptor(asio::make_strand(io.main())),
          drain_timer(acceptor.get_executor()),
          sweep_timer(acceptor.get_executor()) {
        io.hold();  // every context runs until the drain is over, connections or not
    }

    void do_accept();
    void on_accept(beast::error_code ec, tcp::socket socket);
    void session_started(const std::shared_ptr<Session>& s);
    void session_ended(std::list<std::weak_ptr<Session>>::iterator pos, const std::string& address);
    std::shared_ptr<ssl::context> current_tls();
    void shutdown();
    void finish_drain();
    // Every kSweepInterval (or a quarter of the shortest timeout, if less):
    // closes the connections past their deadline (Session::expires_after).
    void schedule_sweep();
    void sweep();

    IoPool& io;
    std::shared_ptr<ssl::context> tls;
    Router& router;
    Metrics& metrics;
    ServerLimits limits;
    bool log_requests;
    tcp::acceptor acceptor;
    asio::steady_timer drain_timer;  // on the acceptor's strand, like all shutdown steps
    asio::steady_timer sweep_timer;  // likewise
    bool sweeping = true;            // on the acceptor's strand: false once drained

    std::mutex sessions_mutex;
    std::list<std::weak_ptr<Session>> sessions;
    std::size_t active = 0;
    std::unordered_map<std::string, std::size_t> per_address;  // open connections by client address
    bool draining = false;
    std::mutex tls_mutex;  // guards `tls` (replaced on SIGHUP)
};

// The fields every answer gets, formatted at most once a second per thread:
// the date (RFC 9110 IMF-fixdate; clients measure their clock skew with it)
// and, HTTPS only and JSON only, what keeps a browser pointed at the API from
// downgrading to HTTP or sniffing an answer into something executable.
constexpr std::string_view kStrictTransportSecurity = "max-age=31536000";
constexpr std::string_view kContentTypeOptions = "nosniff";

struct CommonFields {
    std::string date;
    std::string wire;  // all three as header lines, for wire_bytes
};

const CommonFields& common_fields_now() {
    thread_local std::time_t cached_second = 0;
    thread_local CommonFields cached;
    const std::time_t now = std::time(nullptr);
    if (now != cached_second) {
        std::tm tm{};
        gmtime_r(&now, &tm);
        char buf[64];
        std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        cached.date = buf;
        cached.wire = fmt::format("Date: {}\r\nStrict-Transport-Security: {}\r\nX-Content-Type-Options: {}\r\n",
                                  cached.date, kStrictTransportSecurity, kContentTypeOptions);
        cached_second = now;
    }
    return cached;
}

class Session : public std::enable_shared_from_this<Session> {
public:
    Session(tcp::socket&& socket, std::shared_ptr<Server::Impl> server, std::string remote)
        : tls_(server->current_tls()),
          stream_(std::move(socket), *tls_),
          server_(std::move(server)),
          remote_(std::move(remote)) {}

    ~Session() { server_->session_ended(registry_pos, remote_); }

    std::list<std::weak_ptr<Session>>::iterator registry_pos;

    void run() {
        // Start on the connection's context (its one thread).
        asio::dispatch(stream_.get_executor(),
                       beast::bind_front_handler(&Session::on_run, shared_from_this()));
    }

    // Called on the session's context when the server starts draining.
    void stop_if_idle() {
        closing_ = true;
        if (state_ == State::idle) {
            // Waiting for a next request that will never be served: drop it.
            beast::error_code ignored;  // closing anyway; errors do not matter
            stream_.next_layer().shutdown(tcp::socket::shutdown_both, ignored);
            stream_.next_layer().cancel(ignored);
        }
    }

    asio::any_io_executor executor() { return stream_.get_executor(); }

    // The connection's deadline in steady-clock nanoseconds (kNoDeadline:
    // none), read by the server's sweep from another thread.
    static constexpr std::int64_t kNoDeadline = INT64_MAX;
    [[nodiscard]] bool past_deadline(std::int64_t now_ns) const {
        return now_ns >= deadline_ns_.load(std::memory_order_relaxed);
    }

    // On the session's context, when the sweep found the deadline passed:
    // closing the socket ends whatever waits on it (a read, a write, the
    // TLS shutdown), each completing with an error, and the session with it.
    void on_deadline() {
        if (!past_deadline(steady_ns())) return;  // moved on since the sweep looked
        beast::error_code ignored;  // the connection is being dropped
        stream_.next_layer().close(ignored);
    }

    static std::int64_t steady_ns() {
        return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
    }

private:
    enum class State { handshake, idle, reading, handling, writing, closing };

    // One deadline per connection instead of a timer per socket operation:
    // setting it is a store, and the server's sweep (kSweepInterval) closes
    // connections past it, so a limit is enforced up to one interval late.
    void expires_after(Clock::duration d) {
        deadline_ns_.store(steady_ns() + std::chrono::duration_cast<std::chrono::nanoseconds>(d).count(),
                           std::memory_order_relaxed);
    }
    void expires_never() { deadline_ns_.store(kNoDeadline, std::memory_order_relaxed); }

    void on_run() {
        stream_.next_layer().set_option(tcp::no_delay(true), ignored_ec_);
        expires_after(server_->limits.read_timeout);
        stream_.async_handshake(ssl::stream_base::server,
                                beast::bind_front_handler(&Session::on_handshake, shared_from_this()));
    }

    void on_handshake(beast::error_code ec) {
        if (ec) return fail(ec, "handshake");
        wait_for_request();
    }

    // Idle phase: wait (up to idle_timeout) for the first byte of a request,
    // then read the whole request under read_timeout. A slow client cannot
    // hold a connection open longer than read_timeout per request.
    void wait_for_request() {
        if (closing_) return close();
        state_ = State::idle;
        if (buffer_.size() > 0) return read_request();  // pipelined bytes already here
        expires_after(server_->limits.idle_timeout);
        stream_.async_read_some(buffer_.prepare(4096),
                                [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                                    self->buffer_.commit(n);
                                    if (ec) return self->fail(ec, "idle");
                                    self->read_request();
                                });
    }

    void read_request() {
        state_ = State::reading;
        parser_.emplace();
        parser_->header_limit(static_cast<std::uint32_t>(server_->limits.max_header_bytes));
        parser_->body_limit(server_->limits.max_body_bytes);
        // The idle read has usually brought the whole request: parse it here
        // rather than through another asynchronous read (its timer and a trip
        // through the context's queue). What is incomplete goes on below, the
        // parser keeping what it has taken; a limit or syntax error is
        // answered as the asynchronous read would have answered it.
        if (buffer_.size() > 0) {
            parser_->eager(true);
            beast::error_code ec;
            const std::size_t used = parser_->put(buffer_.data(), ec);
            buffer_.consume(used);
            if (!ec && parser_->is_done()) return on_read({}, used);
            if (ec && ec != bhttp::error::need_more) return on_read(ec, 0);
        }
        expires_after(server_->limits.read_timeout);
        bhttp::async_read(stream_, buffer_, *parser_,
                          beast::bind_front_handler(&Session::on_read, shared_from_this()));
    }

    void on_read(beast::error_code ec, std::size_t) {
        if (ec == bhttp::error::end_of_stream) return close();
        if (ec == bhttp::error::body_limit) {
            return answer_error_and_close(
                {ErrorCode::payload_too_large,
                 fmt::format("request body exceeds {} bytes", server_->limits.max_body_bytes)});
        }
        if (ec == bhttp::error::header_limit) {
            return answer_error_and_close(
                {ErrorCode::payload_too_large,
                 fmt::format("request header exceeds {} bytes", server_->limits.max_header_bytes)});
        }
        if (ec && ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category()) {
            return answer_error_and_close(
                {ErrorCode::invalid_request, fmt::format("malformed HTTP request: {}", ec.message())});
        }
        if (ec) return fail(ec, "read");

        state_ = State::handling;
        request_ = parser_->release();
        parser_.reset();
        started_ = Clock::now();
        info_ = DispatchInfo{};
        info_.remote = remote_;
        expires_never();  // the handler may wait on the store
        // One answer per request, whatever happens: a handler that throws (a
        // bug) answers 500 `internal` instead of ending the process, and a
        // reply that arrives after that answer is dropped.
        auto answered = std::make_shared<std::atomic<bool>>(false);
        try {
            server_->router.dispatch(request_, info_, make_reply(answered));
        } catch (const std::exception& e) {
            if (!answered->exchange(true)) write(internal_error("handler", e.what()));
        }
    }

    Reply make_reply(std::shared_ptr<std::atomic<bool>> answered) {
        return Reply::deferred([self = shared_from_this(), answered](Reply::Build build) mutable {
            if (answered->exchange(true)) return;
            asio::post(self->stream_.get_executor(), [self, build = std::move(build)]() mutable {
                std::optional<Answer> res;
                try {
                    res = build();
                } catch (const std::exception& e) {
                    res = self->internal_error("reply", e.what());
                }
                std::visit([&self](auto&& r) { self->write(std::move(r)); }, std::move(*res));
            });
        });
    }

    // Logs what a handler or reply builder threw; the client learns only that it failed.
    Response internal_error(std::string_view stage, std::string_view what) const {
        spdlog::error("event=internal_error stage={} route={} error={}", stage, info_.route, what);
        return error_response({ErrorCode::internal, "internal error; the request may be retried"});
    }

    void answer_error_and_close(const Error& error) {
        closing_ = true;
        linger_ = true;
        request_ = {};
        started_ = Clock::now();
        info_ = DispatchInfo{};
        write(error_response(error));
    }

    // An answer held in memory goes out as one buffer, its wire bytes in
    // `out_` (kept across requests): Beast's serializer would walk a buffer
    // sequence that flat_stream then copies into one buffer for TLS again.
    // A chunked answer goes through Beast.
    void write(Response res) {
        const bool chunked = res.chunked();
        prepare(res, chunked);
        if (chunked) {
            response_ = std::make_unique<Response>(std::move(res));
            bhttp::async_write(stream_, *response_,
                               beast::bind_front_handler(&Session::on_write, shared_from_this(), keep_));
            return;
        }
        wire_bytes(res, out_, common_fields_now().wire);
        asio::async_write(stream_, asio::buffer(out_),
                          beast::bind_front_handler(&Session::on_write, shared_from_this(), keep_));
    }

    static constexpr std::size_t kKeptAnswerBytes = 64 * 1024;

    // A body read from a file goes out a piece at a time: the write deadline
    // (read_timeout) applies to each piece, so a large answer may take as
    // long as it needs while the client keeps reading, and a client that
    // stops reading is dropped.
    void write(FileResponse res) {
        prepare(res, true);
        file_response_ = std::make_unique<FileResponse>(std::move(res));
        file_serializer_.emplace(*file_response_);
        write_file_piece();
    }

    void write_file_piece() {
        expires_after(server_->limits.read_timeout);
        bhttp::async_write_some(
            stream_, *file_serializer_,
            [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                if (!ec && !self->file_serializer_->is_done()) return self->write_file_piece();
                self->file_serializer_.reset();
                self->file_response_.reset();
                self->on_write(self->keep_, ec, n);
            });
    }

    // What every answer gets before it is sent: its metrics and log line,
    // keep-alive, and the date and security fields (common_fields_now), set
    // here when Beast writes the answer, else added by wire_bytes.
    template <class Body>
    void prepare(bhttp::response<Body>& res, bool set_common_fields) {
        state_ = State::writing;
        const int status = res.result_int();
        const double seconds = std::chrono::duration<double>(Clock::now() - started_).count();
        server_->metrics.observe_request(info_.route, request_.method_string(), status, seconds);
        if (server_->log_requests) {
            spdlog::info("request method={} route={} status={} duration_ms={:.3f} token_id={} remote={}",
                         std::string_view(request_.method_string()), info_.route, status,
                         seconds * 1000.0, info_.token_id.empty() ? "-" : info_.token_id, remote_);
        }
        forget_credentials();
        const bool keep = !closing_ && request_.keep_alive() && request_.version() != 0;
        res.version(request_.version() == 10 ? 10 : 11);
        if (set_common_fields) {
            const CommonFields& common = common_fields_now();
            res.set(bhttp::field::date, common.date);
            res.set(bhttp::field::strict_transport_security, kStrictTransportSecurity);
            res.set("X-Content-Type-Options", kContentTypeOptions);
        }
        res.keep_alive(keep);
        keep_ = keep;
        expires_after(server_->limits.read_timeout);
    }

    // The bearer token has done its work once the answer exists: wipe it from
    // the parsed request so it does not linger in freed memory.
    void forget_credentials() {
        auto it = request_.find(bhttp::field::authorization);
        if (it == request_.end()) return;
        const auto value = it->value();
        OPENSSL_cleanse(const_cast<char*>(value.data()), value.size());
    }

    void on_write(bool keep, beast::error_code ec, std::size_t) {
        response_.reset();
        if (out_.capacity() > kKeptAnswerBytes) std::string().swap(out_);  // a large page, not kept
        if (ec) return fail(ec, "write");
        if (linger_) return discard_then_close(kLingerBytes);
        if (!keep) return close();
        wait_for_request();
    }

    // After refusing a request we did not read in full (e.g. 413), read and
    // drop what the client is still sending for a short while before
    // closing: closing a socket with unread data makes the kernel send a
    // reset, and the client would lose our answer.
    static constexpr std::size_t kLingerBytes = 1 << 20;
    void discard_then_close(std::size_t budget) {
        expires_after(std::chrono::seconds(2));
        buffer_.consume(buffer_.size());
        stream_.async_read_some(
            buffer_.prepare(16384),
            [self = shared_from_this(), budget](beast::error_code ec, std::size_t n) {
                self->buffer_.commit(n);
                if (ec || n >= budget) return self->close();  // client done, gone or too chatty
                self->discard_then_close(budget - n);
            });
    }

    void close() {
        if (state_ == State::closing) return;
        state_ = State::closing;
        expires_after(std::chrono::seconds(2));
        stream_.async_shutdown([self = shared_from_this()](beast::error_code) {
            // The peer may already be gone; the socket closes with the session either way.
        });
    }

    void fail(beast::error_code ec, const char* what) {
        // Timeouts, resets and truncated TLS streams are ordinary ends of
        // connections from clients that went away; they are not logged as errors.
        if (ec != asio::error::operation_aborted && ec != asio::error::bad_descriptor &&
            ec != asio::error::eof && ec != ssl::error::stream_truncated &&
            ec != asio::error::connection_reset) {
            spdlog::debug("connection remote={} stage={} error=\"{}\"", remote_, what, ec.message());
        }
    }

    std::shared_ptr<ssl::context> tls_;  // kept alive for this connection across a reload
    beast::ssl_stream<tcp::socket> stream_;
    std::shared_ptr<Server::Impl> server_;
    beast::flat_buffer buffer_;
    std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
    Request request_;
    std::unique_ptr<Response> response_;  // a chunked answer, while Beast writes it
    std::string out_;                      // any other answer, as sent
    std::unique_ptr<FileResponse> file_response_;
    std::optional<bhttp::response_serializer<bhttp::file_body>> file_serializer_;
    bool keep_ = false;  // the answer being written keeps the connection
    DispatchInfo info_;
    Clock::time_point started_{};
    std::string remote_;
    beast::error_code ignored_ec_;  // no_delay may fail on a socket the peer already reset
    std::atomic<std::int64_t> deadline_ns_{kNoDeadline};
    State state_ = State::handshake;
    bool closing_ = false;
    bool linger_ = false;  // drain unread input before closing
};

void Server::Impl::do_accept() {
    // Accepted onto the acceptor's own context (0), then handed to the next
    // context of the pool (on_accept). A pending accept holds the socket it
    // will fill in; made for another context, it would outlive that
    // context's services when the pool goes down last to first (IoPool).
    acceptor.async_accept(beast::bind_front_handler(&Impl::on_accept, shared_from_this()));
}

void Server::Impl::on_accept(beast::error_code ec, tcp::socket accepted) {
    if (ec == asio::error::operation_aborted) return;  // acceptor closed for shutdown
    // The connection's whole life runs on the context it is handed to. No
    // strand: one thread runs each context (IoPool), so its handlers already
    // run one at a time.
    tcp::socket socket(io.next());
    if (!ec) {
        const auto protocol = accepted.local_endpoint(ec).protocol();
        if (!ec) {
            const auto fd = accepted.release(ec);
            if (!ec) {
                socket.assign(protocol, fd, ec);
                if (ec) ::close(fd);  // ours alone once released
            }
        }
    }
    if (ec) {
        // e.g. EMFILE: keep accepting; the limit below protects us normally.
        spdlog::warn("accept failed: {}", ec.message());
    } else {
        beast::error_code peer_ec;  // a peer that already reset is refused below like any other
        const auto peer = socket.remote_endpoint(peer_ec);
        std::string address = peer_ec ? std::string("-") : peer.address().to_string();
        bool refuse = false;
        {
            std::lock_guard lock(sessions_mutex);
            refuse = draining || peer_ec || active >= limits.max_connections;
            if (!refuse && limits.max_connections_per_address > 0) {
                auto it = per_address.find(address);
                refuse = it != per_address.end() && it->second >= limits.max_connections_per_address;
            }
            if (!refuse) {
                ++active;
                ++per_address[address];
            }
        }
        if (refuse) {
            metrics.connection_refused();
            beast::error_code ignored;  // dropping the connection; nothing to report
            socket.close(ignored);
        } else {
            auto s = std::make_shared<Session>(std::move(socket), shared_from_this(), std::move(address));
            session_started(s);
            s->run();
        }
    }
    std::lock_guard lock(sessions_mutex);
    if (!draining) do_accept();
}

void Server::Impl::session_started(const std::shared_ptr<Session>& s) {
    metrics.connection_opened();
    std::lock_guard lock(sessions_mutex);
    sessions.push_front(s);
    s->registry_pos = sessions.begin();
}

void Server::Impl::session_ended(std::list<std::weak_ptr<Session>>::iterator pos,
                                 const std::string& address) {
    metrics.connection_closed();
    std::lock_guard lock(sessions_mutex);
    sessions.erase(pos);
    --active;
    if (auto it = per_address.find(address); it != per_address.end() && --it->second == 0) {
        per_address.erase(it);
    }
    if (draining && active == 0) {
        asio::post(acceptor.get_executor(), [self = shared_from_this()] { self->finish_drain(); });
    }
}

std::shared_ptr<ssl::context> Server::Impl::current_tls() {
    std::lock_guard lock(tls_mutex);
    return tls;
}

void Server::Impl::shutdown() {
    std::vector<std::shared_ptr<Session>> open;
    {
        std::lock_guard lock(sessions_mutex);
        if (draining) return;
        draining = true;
        for (auto& w : sessions)
            if (auto s = w.lock()) open.push_back(std::move(s));
    }
    for (auto& s : open) asio::post(s->executor(), [s] { s->stop_if_idle(); });
    asio::post(acceptor.get_executor(), [self = shared_from_this()] {
        beast::error_code ignored;  // closing a listening socket during shutdown
        self->acceptor.close(ignored);
        self->drain_timer.expires_after(self->limits.drain_timeout);
        self->drain_timer.async_wait([self](beast::error_code ec) {
            if (ec) return;  // cancelled: everything drained in time
            spdlog::warn("event=drain_timeout open_connections={}", self->metrics.open_connections());
            self->io.stop();
        });
        self->finish_drain();
    });
}

// On the acceptor's strand: once draining and no session is left, let run() return.
void Server::Impl::finish_drain() {
    {
        std::lock_guard lock(sessions_mutex);
        if (!draining || active != 0) return;
    }
    drain_timer.cancel();
    sweeping = false;
    sweep_timer.cancel();
    io.release();
}

constexpr std::chrono::milliseconds kSweepInterval{250};

void Server::Impl::schedule_sweep() {
    if (!sweeping) return;
    const auto shortest = std::min(limits.read_timeout, limits.idle_timeout);
    sweep_timer.expires_after(std::clamp(shortest / 4, std::chrono::milliseconds(10), kSweepInterval));
    sweep_timer.async_wait([self = shared_from_this()](beast::error_code ec) {
        if (ec) return;  // cancelled: drained
        self->sweep();
        self->schedule_sweep();
    });
}

// Only the deadlines are read here; each connection found past its own is
// closed on its context, which checks the deadline again first. The
// sessions are held outside the lock: a reference taken here may be the
// last one, and a session's destructor takes the lock itself.
void Server::Impl::sweep() {
    std::vector<std::shared_ptr<Session>> open;
    {
        std::lock_guard lock(sessions_mutex);
        open.reserve(active);
        for (auto& w : sessions)
            if (auto s = w.lock()) open.push_back(std::move(s));
    }
    const std::int64_t now = Session::steady_ns();
    for (auto& s : open) {
        if (s->past_deadline(now)) asio::post(s->executor(), [s] { s->on_deadline(); });
    }
}

Server::Server(IoPool& io, std::shared_ptr<ssl::context> tls, Router& router,
               Metrics& metrics, ServerLimits limits, bool log_requests)
    : impl_(std::make_shared<Impl>(io, std::move(tls), router, metrics, limits, log_requests)) {}

Server::~Server() = default;

Result<tcp::endpoint> Server::listen(const std::string& host, unsigned short port) {
    beast::error_code ec;
    const auto address = asio::ip::make_address(host, ec);
    if (ec) {
        return fail(ErrorCode::invalid_request,
                    fmt::format("--listen: '{}' is not an IP address", host));
    }
    tcp::endpoint ep{address, port};
    auto& a = impl_->acceptor;
    a.open(ep.protocol(), ec);
    if (!ec) a.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) a.bind(ep, ec);
    if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
        return fail(ErrorCode::unavailable,
                    fmt::format("cannot listen on {}:{}: {}", host, port, ec.message()));
    }
    return a.local_endpoint();
}

void Server::start() {
    asio::dispatch(impl_->acceptor.get_executor(), [impl = impl_] {
        impl->do_accept();
        impl->schedule_sweep();
    });
}

void Server::begin_shutdown() { impl_->shutdown(); }

void Server::replace_tls_context(std::shared_ptr<ssl::context> tls) {
    std::lock_guard lock(impl_->tls_mutex);
    impl_->tls = std::move(tls);
}

}  // namespace entitle::http

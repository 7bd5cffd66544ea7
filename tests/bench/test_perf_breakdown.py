"""bench/perf_breakdown.py puts each perf sample in the group of what the
server was doing. Stacks here are written as `perf script` prints them."""
import importlib.util
import io
import pathlib

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "bench" / "perf_breakdown.py"
spec = importlib.util.spec_from_file_location("perf_breakdown", SCRIPT)
pb = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pb)

SSL_STREAM = ("boost::beast::ssl_stream<boost::beast::basic_stream<boost::asio::ip::tcp, "
              "boost::asio::any_io_executor, boost::beast::unlimited_rate_policy> >")


def frames(*names):
    return [f"{n}+0x1f (/opt/entitled)" if "(" not in n else n for n in names]


def test_a_handler_running_in_a_tls_reads_completion_is_http_not_tls():
    stack = frames(
        "entitle::http::Authenticator::note_use",
        "entitle::http::Router::dispatch",
        "entitle::http::Session::on_read",
        f"boost::beast::http::detail::read_op<{SSL_STREAM}, true>::operator()",
        f"boost::asio::ssl::detail::io_op<{SSL_STREAM}>::operator()",
        "boost::asio::detail::scheduler::run",
    )
    assert pb.classify(stack) == "HTTP and routes (Beast, router, handlers)"


def test_openssl_and_asios_engine_are_tls():
    tls = "TLS in user space (record layer, AES-GCM)"
    assert pb.classify(frames("[unknown] (/usr/lib/x86_64-linux-gnu/libssl.so.3)",
                              "boost::asio::ssl::detail::engine::do_read",
                              "entitle::http::Session::wait_for_request")) == tls
    assert pb.classify(frames("SSL_read_ex", "boost::asio::ssl::detail::engine::perform")) == tls
    assert pb.classify(frames("aesni_gcm_encrypt", "[unknown] (/usr/lib/x86_64-linux-gnu/libcrypto.so.3)")) == tls
    assert pb.classify(frames("BIO_write", f"boost::asio::ssl::detail::io_op<{SSL_STREAM}>::operator()")) == tls


def test_named_work_under_a_tls_completion_keeps_its_own_group():
    under_tls = [f"boost::asio::ssl::detail::io_op<{SSL_STREAM}>::operator()"]
    assert pb.classify(frames("sqlite3VdbeExec", *under_tls)).startswith("SQLite")
    assert pb.classify(frames("ge25519_scalarmult_base", "entitle::crypto::sign_lease_token",
                              *under_tls)) == "signing (Ed25519)"
    assert pb.classify(frames("tcp_sendmsg ([kernel.kallsyms])", *under_tls)).startswith("kernel")


def test_samples_are_read_from_perf_script_text():
    text = ("entitled 100/101 1.0: 1 cycles:\n"
            "\t 7f00 SSL_write_ex+0x10 (/usr/lib/x86_64-linux-gnu/libssl.so.3)\n"
            "\t 7f01 entitle::http::Session::write+0x22 (/opt/entitled)\n"
            "\n"
            "entitled 100/102 1.1: 1 cycles:\n"
            "\t 7f02 sqlite3_step+0x5 (/usr/lib/x86_64-linux-gnu/libsqlite3.so.0)\n"
            "\t 7f03 entitle::store::Store::writer_loop+0x9 (/opt/entitled)\n")
    got = [(pb.classify(f), any("writer_loop" in x for x in f)) for _, f in pb.samples(io.StringIO(text))]
    assert got == [("TLS in user space (record layer, AES-GCM)", False),
                   ("SQLite (incl. its pread/pwrite/fsync)", True)]

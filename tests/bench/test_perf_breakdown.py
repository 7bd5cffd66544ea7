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


def test_function_names_lose_templates_parameters_and_return_types():
    assert pb.function_name(
        "void entitle::http::Session::prepare<boost::beast::http::basic_string_body<char> >"
        "(boost::beast::http::message<false, boost::beast::http::basic_string_body<char> >&, bool)"
        "+0x9 (/opt/entitled)") == "entitle::http::Session::prepare"
    assert pb.function_name("entitle::crypto::jws_sign_encoded[abi:cxx11](std::basic_string_view<char>)"
                            "+0x5 (/opt/entitled)") == "entitle::crypto::jws_sign_encoded"
    assert pb.function_name("entitle::(anonymous namespace)::append_x(std::string&)+0x3 (/opt/entitled)") \
        == "entitle::{anonymous}::append_x"
    assert pb.function_name(
        "entitle::http::register_lease_routes(entitle::http::Router&)::{lambda(entitle::http::Reply)#1}"
        "::operator()(entitle::http::Reply) const+0x1f (/opt/entitled)") \
        == "entitle::http::register_lease_routes::{lambda#1}::operator"


def test_a_function_counts_once_per_stack_however_deep_it_recurses():
    stack = frames("entitle::canonical_json(x const&)", "entitle::canonical_json(x const&)",
                   "SSL_write", "entitle::http::Session::write(entitle::http::Response)")
    assert pb.entitle_functions(stack) == {"entitle::canonical_json", "entitle::http::Session::write"}

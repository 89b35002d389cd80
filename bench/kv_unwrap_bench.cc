// Key Vault unwrap throughput through the HTTPS API, against OpenSSL's own RSA-OAEP-256 decrypt
// rate measured in the same run on the same machine.
//
// The server runs in this process with ONE network thread (one server core); client threads
// keep one TLS keep-alive connection each and send POST .../unwrapkey back to back.
//
//   bench/kv_unwrap_bench [--seconds S] [--connections C]
#include <openssl/evp.h>
#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <thread>
#include <vector>

#include "app/instance.h"
#include "base/encoding.h"
#include "crypto/rsa.h"

#include <spdlog/async.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using Clock = std::chrono::steady_clock;

namespace {

// Pins the calling thread (and the threads it creates later) to one CPU.
void PinToCpu(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

double OpenSslRate(const cmk::crypto::RsaKey& key, const std::vector<uint8_t>& ct, double seconds) {
  auto end = Clock::now() + std::chrono::duration<double>(seconds);
  uint64_t n = 0;
  while (Clock::now() < end) {
    for (int i = 0; i < 50; ++i) {
      auto r = key.Decrypt(cmk::crypto::RsaPadding::kOaepSha256, ct);
      if (!r.ok()) std::abort();
    }
    n += 50;
  }
  return static_cast<double>(n) / seconds;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 10;
  int connections = 8;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--seconds")) seconds = std::atof(argv[i + 1]);
    if (!std::strcmp(argv[i], "--connections")) connections = std::atoi(argv[i + 1]);
  }
  // The server (its network thread and every helper thread it starts) gets CPU 0; the load
  // generator gets CPU 1, so "one server core" is what is measured.
  PinToCpu(0);
  // The server's access log runs as in `cmklogs serve` (async, one writer thread on the server's
  // CPU); its output is discarded.
  spdlog::init_thread_pool(65536, 1);
  spdlog::set_default_logger(spdlog::create_async_nb<spdlog::sinks::null_sink_mt>("bench"));
  std::string dir = std::filesystem::temp_directory_path() / ("kvbench_" + cmk::env::SecureRandom().NewGuid());
  cmk::app::ServeOptions o;
  o.data_dir = dir;
  o.port = 0;
  o.listen = {"127.0.0.1"};
  o.threads = 1;
  o.write_client_config = false;
  o.pkcs11_module = "";
  auto instance = cmk::app::Instance::Start(o);
  if (!instance.ok()) {
    std::fprintf(stderr, "%s\n", instance.status().ToString().c_str());
    return 1;
  }
  auto& in = **instance;
  auto principal = std::move(*in.directory_for_test()->CreateServicePrincipal(in.info().tenant_id, "bench")).principal;
  cmk::keyvault::Vault v;
  v.name = "benchvault";
  v.subscription_id = in.info().subscription_id;
  v.resource_group = "cmklogs";
  v.resource_id = "/subscriptions/" + v.subscription_id + "/resourceGroups/cmklogs/providers/Microsoft.KeyVault/vaults/benchvault";
  v.location = "eastus";
  v.tenant_id = in.info().tenant_id;
  cmk::keyvault::AccessPolicy p{v.tenant_id, principal.object_id, "", {"all"}, {}};
  v.access_policies = {p};
  auto* kv = in.keyvault_for_test();
  if (!kv->PutVault(v, false).ok()) return 1;
  cmk::keyvault::KvRequest create{"POST", "/keys/kek/create", {{"api-version", "7.4"}}, R"({"kty":"RSA","key_size":2048})",
                                  principal, "benchvault", cmk::keyvault::VaultKind::kVault};
  auto created = kv->Handle(create);
  std::string kid(created.body->as_object().at("key").as_object().at("kid").as_string());
  std::string path = kid.substr(kid.find("/keys/")) + "/unwrapkey?api-version=7.4";
  std::vector<uint8_t> aek(32, 7);
  auto wrapped = *kv->WrapKey(principal, "benchvault", "kek", "", "RSA-OAEP-256", aek);
  std::string body = R"({"alg":"RSA-OAEP-256","value":")" + cmk::Base64UrlEncode(wrapped.value) + "\"}";
  std::string token = in.tokens_for_test()->Issue(principal, "https://vault.localhost")->token;
  std::string host = "benchvault.vault.localhost:" + std::to_string(in.port());

  // The peer: OpenSSL's own RSA-2048 OAEP-256 decrypt rate on one core, same key size.
  auto peer_key = *cmk::crypto::RsaKey::Generate(2048);
  auto peer_ct = *peer_key.Encrypt(cmk::crypto::RsaPadding::kOaepSha256, aek);
  double openssl_rate = OpenSslRate(peer_key, peer_ct, 3);  // on CPU 0, like the server

  std::atomic<bool> go{false}, stop{false};
  std::vector<std::vector<double>> latencies(static_cast<size_t>(connections));
  std::atomic<uint64_t> errors{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < connections; ++c) {
    threads.emplace_back([&, c] {
      PinToCpu(1);
      net::io_context ioc;
      ssl::context ctx(ssl::context::tls_client);
      ctx.load_verify_file(in.ca_cert_path());
      ctx.set_verify_mode(ssl::verify_peer);
      beast::ssl_stream<beast::tcp_stream> stream(ioc, ctx);
      SSL_set_tlsext_host_name(stream.native_handle(), "benchvault.vault.localhost");
      net::ip::tcp::endpoint ep(net::ip::make_address("127.0.0.1"), in.port());
      beast::get_lowest_layer(stream).connect(ep);
      stream.handshake(ssl::stream_base::client);
      http::request<http::string_body> req{http::verb::post, path, 11};
      req.set(http::field::host, host);
      req.set(http::field::authorization, "Bearer " + token);
      req.set(http::field::content_type, "application/json");
      req.body() = body;
      req.prepare_payload();
      beast::flat_buffer buf;
      while (!go) std::this_thread::yield();
      auto& lat = latencies[static_cast<size_t>(c)];
      while (!stop) {
        auto t0 = Clock::now();
        http::write(stream, req);
        http::response<http::string_body> res;
        http::read(stream, buf, res);
        lat.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
        if (res.result_int() != 200) errors++;
      }
    });
  }
  go = true;
  auto t0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  for (auto& t : threads) t.join();
  std::vector<double> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  auto pct = [&](double q) { return all.empty() ? 0.0 : all[static_cast<size_t>(q * static_cast<double>(all.size() - 1))]; };
  double rate = static_cast<double>(all.size()) / elapsed;
  std::printf("openssl_rsa2048_oaep256_decrypt_per_s %.0f\n", openssl_rate);
  std::printf("https_unwrap_per_s %.0f (connections=%d, server threads=1, %.1f s, errors=%llu)\n", rate, connections,
              elapsed, static_cast<unsigned long long>(errors.load()));
  std::printf("https_unwrap_latency_us p50=%.0f p99=%.0f max=%.0f\n", pct(0.5), pct(0.99), all.empty() ? 0.0 : all.back());
  std::printf("ratio_to_openssl %.2f\n", rate / openssl_rate);
  instance->reset();
  std::filesystem::remove_all(dir);
  return errors == 0 ? 0 : 1;
}

// Runs the OnlineStore and Cache contract suites on the Redis adapters (through the factory) and
// Redis-specific tests, against the Redis of scripts/services/redis.sh (start it first:
// `scripts/services/redis.sh start`; CTML_TEST_REDIS_URI points elsewhere). Every test writes
// under its own key prefix "ctmltest:<run>:<location>:", and the keys of this run are deleted at
// the end. The restart test runs only with CTML_TEST_REDIS_RESTART=1 (it restarts the service
// through scripts/services/redis.sh; set CTML_REDIS_PORT too when the URI's port is not 16379).
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <map>
#include <set>
#include <thread>

#include "ctml/store/cache_contract.h"
#include "ctml/store/factory.h"
#include "ctml/store/online_store_contract.h"
#include "ctml/store/redis/redis_connection.h"

namespace ctml::store::testing {
namespace {

using redis_internal::ParseRedisUri;
using redis_internal::RedisConnection;
using redis_internal::RedisReply;
using std::chrono::seconds;

std::string BaseUri() { return ServiceUri("CTML_TEST_REDIS_URI", "redis://127.0.0.1:16379"); }

// The key prefix of this test process: its keys are deleted at the end.
const std::string& RunPrefix() {
  static const std::string prefix = "ctmltest:" + HexEncode(RandomBytes(4)) + ":";
  return prefix;
}

std::string WithPrefix(const std::string& uri, const std::string& prefix) {
  return uri + (uri.find('?') == std::string::npos ? "?" : "&") + "prefix=" + prefix;
}

// The URI of the store at `location`: the same location gives the same prefix (one store).
std::string UriFor(const std::string& location) {
  return WithPrefix(BaseUri(),
                    RunPrefix() + std::filesystem::path(location).filename().string() + ":");
}

// "redis://host:port" of the test server, without credentials or parameters.
std::string HostPort() {
  auto o = ParseRedisUri(BaseUri(), "test");
  EXPECT_TRUE(o.ok()) << o.status().ToString();
  return o.ok() ? o->host + ":" + std::to_string(o->port) : "127.0.0.1:16379";
}

// A raw connection to the test server, for checks the ports do not offer.
std::unique_ptr<RedisConnection> Raw() {
  auto conn = RedisConnection::Open(BaseUri(), "test");
  EXPECT_TRUE(conn.ok()) << conn.status().ToString();
  return conn.ok() ? std::move(conn).value() : nullptr;
}

class DeleteTestKeys : public ::testing::Environment {
 public:
  void TearDown() override {
    auto conn = Raw();
    if (conn == nullptr) return;
    std::string cursor = "0";
    do {
      auto reply = conn->Run({"SCAN", cursor, "MATCH", RunPrefix() + "*", "COUNT", "1000"});
      if (!reply.ok() || reply->elements.size() != 2) return;
      cursor = reply->elements[0].str;
      redis_internal::RedisCommand unlink{"UNLINK"};
      for (const auto& k : reply->elements[1].elements) unlink.push_back(k.str);
      if (unlink.size() > 1) (void)conn->Run(unlink);
    } while (cursor != "0");
  }
};
const auto* const kDeleteTestKeys = ::testing::AddGlobalTestEnvironment(new DeleteTestKeys);

INSTANTIATE_TEST_SUITE_P(Redis, OnlineStoreContract,
                         ::testing::Values(OnlineStoreFactory{
                             "redis",
                             [](const std::string& dir) { return OpenOnlineStore(UriFor(dir)); }}),
                         AdapterName());

INSTANTIATE_TEST_SUITE_P(Redis, CacheContract,
                         ::testing::Values(CacheFactory{
                             "redis",
                             [](const std::string& dir) { return OpenCache(UriFor(dir)); }}),
                         AdapterName());

// A fresh prefix per test for the tests below.
class RedisTest : public ::testing::Test {
 protected:
  std::string Uri() const { return UriFor(dir_.path()); }
  std::string Prefix() const {
    return RunPrefix() + std::filesystem::path(dir_.path()).filename().string() + ":";
  }

 private:
  ScopedTempDir dir_;
};

// A Redis 6+ ACL user with a random name and password, deleted at scope end.
class ScopedAclUser {
 public:
  ScopedAclUser()
      : raw_(Raw()), name_(Unique("ctmltest-user")), password_(HexEncode(RandomBytes(12))) {
    if (raw_ == nullptr) return;
    auto st = raw_->Run({"ACL", "SETUSER", name_, "on", ">" + password_, "~*", "+@all"});
    EXPECT_TRUE(st.ok()) << st.status().ToString();
  }
  ~ScopedAclUser() {
    if (raw_ != nullptr) (void)raw_->Run({"ACL", "DELUSER", name_});
  }
  ScopedAclUser(const ScopedAclUser&) = delete;
  ScopedAclUser& operator=(const ScopedAclUser&) = delete;
  const std::string& name() const { return name_; }
  const std::string& password() const { return password_; }
  RedisConnection* raw() const { return raw_.get(); }

 private:
  std::unique_ptr<RedisConnection> raw_;
  std::string name_;
  std::string password_;
};

TEST(RedisUri, MalformedUrisAreInvalidNamingTheUriWithoutThePassword) {
  for (const std::string uri : {
           "redis://:s3cr3t-pw@127.0.0.1:notaport",
           "redis://:s3cr3t-pw@127.0.0.1:0",
           "redis://:s3cr3t-pw@127.0.0.1:70000",
           "redis://:s3cr3t-pw@127.0.0.1:16379/first",
           "redis://:s3cr3t-pw@:16379",
           "redis://:s3cr3t-pw@[::1:16379",
           "redis://:s3cr3t-pw@127.0.0.1:16379?prefx=a",
           "redis://:s3cr3t-pw@127.0.0.1:16379?prefix=a{b}",
           "redis://:s3cr3t-pw@127.0.0.1:16379?timeout_ms=0",
           "redis://:s3cr3t%zz@127.0.0.1:16379",
       }) {
    auto online = OpenOnlineStore(uri);
    ASSERT_FALSE(online.ok()) << uri;
    EXPECT_EQ(online.status().code(), StatusCode::kInvalid) << online.status().ToString();
    EXPECT_EQ(online.status().field(), "uri");
    EXPECT_NE(online.status().message().find("online store"), std::string::npos);
    std::string redacted = "redis://***@" + uri.substr(uri.find('@') + 1);
    EXPECT_NE(online.status().message().find(redacted), std::string::npos)
        << online.status().message();
    EXPECT_EQ(online.status().message().find("s3cr3t"), std::string::npos)
        << online.status().message();
    auto cache = OpenCache(uri);
    ASSERT_FALSE(cache.ok()) << uri;
    EXPECT_EQ(cache.status().code(), StatusCode::kInvalid);
    EXPECT_NE(cache.status().message().find(redacted), std::string::npos);
    EXPECT_EQ(cache.status().message().find("s3cr3t"), std::string::npos);
  }
}

TEST(RedisUri, ParsesEveryPart) {
  CTML_TEST_ASSIGN(auto o, ParseRedisUri("redis://reader:p%40ss@[::1]:7000/3?prefix=app%3A&"
                                         "connect_timeout_ms=500&timeout_ms=1500",
                                         "cache"));
  EXPECT_EQ(o.host, "::1");
  EXPECT_EQ(o.port, 7000);
  EXPECT_EQ(o.db, 3);
  EXPECT_EQ(o.username, "reader");
  EXPECT_EQ(o.password, "p@ss");
  EXPECT_EQ(o.prefix, "app:");
  EXPECT_EQ(o.connect_timeout.count(), 500);
  EXPECT_EQ(o.command_timeout.count(), 1500);
  EXPECT_EQ(o.redacted_uri.find("p%40ss"), std::string::npos);
  // Unencoded '/', '?' and '@' in a password: still parsed, still redacted.
  CTML_TEST_ASSIGN(auto raw, ParseRedisUri("redis://:a/b?c@d@h:1/2?prefix=x", "cache"));
  EXPECT_EQ(raw.password, "a/b?c@d");
  EXPECT_EQ(raw.host, "h");
  EXPECT_EQ(raw.port, 1);
  EXPECT_EQ(raw.db, 2);
  EXPECT_EQ(raw.prefix, "x");
  EXPECT_EQ(raw.redacted_uri, "redis://***@h:1/2?prefix=x");
  auto bad = OpenOnlineStore("redis://:a/b?c@d@h:x");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message().find("a/b"), std::string::npos) << bad.status().message();
  CTML_TEST_ASSIGN(auto d, ParseRedisUri("REDIS://cache.internal", "cache"));
  EXPECT_EQ(d.host, "cache.internal");
  EXPECT_EQ(d.port, 6379);
  EXPECT_EQ(d.db, 0);
  EXPECT_EQ(d.prefix, "ctml:");
}

TEST(RedisUri, AWrongPasswordIsInvalidAndNotEchoed) {
  for (const std::string& uri :
       {"redis://:wrong-s3cr3t@" + HostPort(), "redis://nobody-here:wrong-s3cr3t@" + HostPort()}) {
    auto online = OpenOnlineStore(uri);
    ASSERT_FALSE(online.ok());
    EXPECT_EQ(online.status().code(), StatusCode::kInvalid) << online.status().ToString();
    EXPECT_NE(online.status().message().find("AUTH"), std::string::npos);
    EXPECT_EQ(online.status().message().find("s3cr3t"), std::string::npos)
        << online.status().message();
  }
}

// A Redis 6+ ACL user, with the password in the URI and from REDIS_PASSWORD.
TEST_F(RedisTest, AuthenticatesAnAclUser) {
  ScopedAclUser user;
  std::string host = HostPort();
  CTML_TEST_ASSIGN(auto store,
                   OpenOnlineStore(WithPrefix(
                       "redis://" + user.name() + ":" + user.password() + "@" + host, Prefix())));
  CTML_TEST_OK(store->Put({FeatureVector{"S", "v", 1, "h", {{"f", 1.5}}}}));
  ::setenv("REDIS_PASSWORD", user.password().c_str(), 1);
  auto from_env = OpenOnlineStore(WithPrefix("redis://" + user.name() + "@" + host, Prefix()));
  ::unsetenv("REDIS_PASSWORD");
  ASSERT_TRUE(from_env.ok()) << from_env.status().ToString();
  CTML_TEST_ASSIGN(auto got, (*from_env)->Get("S", "v"));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->values.at(0).second, 1.5);
}

TEST(RedisDown, CallsReturnUnavailableAndOpenDoesNotFail) {
  // Nothing listens on port 1: the connection is refused at once.
  CTML_TEST_ASSIGN(auto store, OpenOnlineStore("redis://127.0.0.1:1"));
  Status ping = store->Ping();
  EXPECT_EQ(ping.code(), StatusCode::kUnavailable) << ping.ToString();
  EXPECT_NE(ping.message().find("127.0.0.1:1"), std::string::npos) << ping.ToString();
  EXPECT_EQ(store->Get("S", "v").status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(store->Put({FeatureVector{"S", "v", 1, "h", {}}}).code(), StatusCode::kUnavailable);
  CTML_TEST_ASSIGN(auto cache, OpenCache("redis://127.0.0.1:1"));
  EXPECT_EQ(cache->Get("k").status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(cache->Put("k", "v", seconds(1)).code(), StatusCode::kUnavailable);
}

TEST_F(RedisTest, CacheTtlReallyExpiresInRedis) {
  CTML_TEST_ASSIGN(auto cache, OpenCache(Uri()));
  CTML_TEST_OK(cache->Put("short", "v", seconds(1)));
  CTML_TEST_OK(cache->Put("long", "v", seconds(600)));
  CTML_TEST_OK(cache->Put("forever", "v", seconds(0)));
  auto raw = Raw();
  ASSERT_NE(raw, nullptr);
  CTML_TEST_ASSIGN(auto ttl_long, raw->Run({"TTL", Prefix() + "cache:long"}));
  EXPECT_GT(ttl_long.integer, 500);
  EXPECT_LE(ttl_long.integer, 600);
  CTML_TEST_ASSIGN(auto ttl_forever, raw->Run({"TTL", Prefix() + "cache:forever"}));
  EXPECT_EQ(ttl_forever.integer, -1);  // ttl <= 0: no expiry, as in memory://
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  CTML_TEST_ASSIGN(auto expired, cache->Get("short"));
  EXPECT_FALSE(expired.has_value());
  CTML_TEST_ASSIGN(auto exists, raw->Run({"EXISTS", Prefix() + "cache:short"}));
  EXPECT_EQ(exists.integer, 0);
  CTML_TEST_ASSIGN(auto alive, cache->Get("long"));
  EXPECT_TRUE(alive.has_value());
}

TEST_F(RedisTest, BatchOfAThousandVectorsThenCountKeysGet) {
  CTML_TEST_ASSIGN(auto store, OpenOnlineStore(Uri()));
  std::vector<FeatureVector> batch;
  for (int i = 0; i < 1000; ++i) {
    batch.push_back(FeatureVector{"SUBJ" + std::to_string(i),
                                  "vitals",
                                  1000 + i,
                                  "spec-1",
                                  {{"pulse", 60.0 + i}, {"sysbp", i % 3 == 0 ? NAN : 120.0}}});
  }
  auto raw = Raw();
  ASSERT_NE(raw, nullptr);
  CTML_TEST_OK(store->Put(batch));
  CTML_TEST_ASSIGN(auto n, store->Count("vitals"));
  EXPECT_EQ(n, 1000);
  CTML_TEST_ASSIGN(auto keys, store->Keys("vitals", 5000));
  EXPECT_EQ(keys.size(), 1000u);
  EXPECT_EQ(std::set<std::string>(keys.begin(), keys.end()).size(), 1000u);
  CTML_TEST_ASSIGN(auto some, store->Keys("vitals", 7));
  EXPECT_EQ(some.size(), 7u);
  for (int i : {0, 499, 500, 999}) {
    CTML_TEST_ASSIGN(auto got, store->Get("SUBJ" + std::to_string(i), "vitals"));
    ASSERT_TRUE(got.has_value()) << i;
    EXPECT_EQ(got->as_of_us, 1000 + i);
    ASSERT_EQ(got->values.size(), 2u);
    EXPECT_EQ(got->values[0], std::make_pair(std::string("pulse"), 60.0 + i));
    EXPECT_EQ(std::isnan(got->values[1].second), i % 3 == 0);
  }
  // The documented layout: one hash per subject and view, a set per view.
  CTML_TEST_ASSIGN(auto hash, raw->Run({"HGETALL", Prefix() + "fv:{SUBJ3}:vitals"}));
  std::map<std::string, std::string> fields;
  for (size_t i = 0; i + 1 < hash.elements.size(); i += 2) {
    fields[hash.elements[i].str] = hash.elements[i + 1].str;
  }
  EXPECT_EQ(fields["as_of_us"], "1003");
  EXPECT_EQ(fields["spec_hash"], "spec-1");
  EXPECT_EQ(fields["_order"], R"(["pulse","sysbp"])");
  EXPECT_EQ(fields["f:pulse"], "63");
  EXPECT_EQ(fields["f:sysbp"], "nan");
  CTML_TEST_ASSIGN(auto card, raw->Run({"SCARD", Prefix() + "idx:{vitals}"}));
  EXPECT_EQ(card.integer, 1000);
}

TEST_F(RedisTest, InfinitiesAndBracesInNamesRoundTrip) {
  CTML_TEST_ASSIGN(auto store, OpenOnlineStore(Uri()));
  const double inf = std::numeric_limits<double>::infinity();
  std::string odd_key = "a}b{c%7D";
  std::string odd_view = "v{1}";
  CTML_TEST_OK(store->Put(
      {FeatureVector{odd_key, odd_view, 1, "h", {{"up", inf}, {"down", -inf}, {"f:x", 0.1}}},
       FeatureVector{"a", odd_view, 2, "h", {}}}));
  CTML_TEST_ASSIGN(auto got, store->Get(odd_key, odd_view));
  ASSERT_TRUE(got.has_value());
  ASSERT_EQ(got->values.size(), 3u);
  EXPECT_EQ(got->values[0].second, inf);
  EXPECT_EQ(got->values[1].second, -inf);
  EXPECT_EQ(got->values[2], std::make_pair(std::string("f:x"), 0.1));
  CTML_TEST_ASSIGN(auto plain, store->Get("a", odd_view));
  ASSERT_TRUE(plain.has_value());
  EXPECT_EQ(plain->as_of_us, 2);
  CTML_TEST_ASSIGN(auto keys, store->Keys(odd_view, 10));
  EXPECT_EQ(std::set<std::string>(keys.begin(), keys.end()), (std::set<std::string>{odd_key, "a"}));
}

TEST_F(RedisTest, DuplicateFeatureNamesAreInvalid) {
  CTML_TEST_ASSIGN(auto store, OpenOnlineStore(Uri()));
  Status st = store->Put({FeatureVector{"S", "v", 1, "h", {{"f", 1.0}, {"f", 2.0}}}});
  EXPECT_EQ(st.code(), StatusCode::kInvalid) << st.ToString();
}

TEST_F(RedisTest, OneHandleIsSafeFromManyThreads) {
  CTML_TEST_ASSIGN(auto store, OpenOnlineStore(Uri()));
  auto work = [&](int t) {
    for (int i = 0; i < 50; ++i) {
      std::string key = "S" + std::to_string(t) + "-" + std::to_string(i);
      EXPECT_TRUE(store->Put({FeatureVector{key, "v", i, "h", {{"f", 1.0 * t}}}}).ok());
      auto got = store->Get(key, "v");
      ASSERT_TRUE(got.ok() && got->has_value());
      EXPECT_EQ((*got)->values.at(0).second, 1.0 * t);
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back(work, t);
  for (auto& th : threads) th.join();
  CTML_TEST_ASSIGN(auto n, store->Count("v"));
  EXPECT_EQ(n, 200);
}

std::string ServiceScript() {
  const char* dir = std::getenv("CTML_SOURCE_DIR");
  return std::string(dir != nullptr && *dir != '\0' ? dir : CTML_SOURCE_DIR) +
         "/scripts/services/redis.sh";
}

// Redis stops and starts again under open handles: calls fail with Unavailable while it is down,
// the same handles work once it is back, and the data written before is still there (AOF).
TEST_F(RedisTest, SurvivesARedisRestart) {
  const char* enabled = std::getenv("CTML_TEST_REDIS_RESTART");
  if (enabled == nullptr || std::string(enabled) != "1") {
    GTEST_SKIP() << "restarts Redis: runs with CTML_TEST_REDIS_RESTART=1";
  }
  CTML_TEST_ASSIGN(auto store, OpenOnlineStore(Uri()));
  CTML_TEST_ASSIGN(auto cache, OpenCache(Uri()));
  CTML_TEST_ASSIGN(auto idle, OpenOnlineStore(Uri()));  // connected, but no call while down
  CTML_TEST_OK(idle->Ping());
  std::vector<FeatureVector> batch;
  for (int i = 0; i < 100; ++i) {
    batch.push_back(FeatureVector{"S" + std::to_string(i), "v", i, "h", {{"f", 0.5 * i}}});
  }
  CTML_TEST_OK(store->Put(batch));
  CTML_TEST_OK(cache->Put("k", "cached", seconds(3600)));
  ASSERT_EQ(std::system((ServiceScript() + " stop").c_str()), 0);
  Status down = store->Ping();
  EXPECT_EQ(down.code(), StatusCode::kUnavailable) << down.ToString();
  EXPECT_EQ(store->Get("S1", "v").status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(cache->Get("k").status().code(), StatusCode::kUnavailable);
  ASSERT_EQ(std::system((ServiceScript() + " start").c_str()), 0);
  CTML_TEST_OK(store->Ping());
  CTML_TEST_ASSIGN(auto n, store->Count("v"));
  EXPECT_EQ(n, 100);
  CTML_TEST_ASSIGN(auto got, store->Get("S99", "v"));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->values.at(0).second, 49.5);
  CTML_TEST_ASSIGN(auto hit, cache->Get("k"));
  EXPECT_EQ(hit.value_or("<missing>"), "cached");
  CTML_TEST_OK(store->Put({FeatureVector{"S100", "v", 100, "h", {}}}));
  // The idle handle's first call goes to the dead connection: it reconnects and succeeds, even
  // for a pipeline that spans many writes (no SIGPIPE).
  std::vector<FeatureVector> big;
  for (int i = 0; i < 1000; ++i) {
    big.push_back(FeatureVector{"B" + std::to_string(i), "w", i, "h", {{"f", 1.0 * i}}});
  }
  CTML_TEST_OK(idle->Put(big));
  CTML_TEST_ASSIGN(auto m, idle->Count("w"));
  EXPECT_EQ(m, 1000);
}

// A handle whose connection broke while Redis stayed up reconnects on its next call, and that
// call succeeds. The handle logs in as its own ACL user so that only its connection is killed.
TEST_F(RedisTest, ReconnectsAfterTheServerDropsTheConnection) {
  ScopedAclUser user;
  ASSERT_NE(user.raw(), nullptr);
  CTML_TEST_ASSIGN(auto store, OpenOnlineStore(WithPrefix("redis://" + user.name() + ":" +
                                                              user.password() + "@" + HostPort(),
                                                          Prefix())));
  CTML_TEST_OK(store->Put({FeatureVector{"S", "v", 1, "h", {{"f", 2.0}}}}));
  CTML_TEST_ASSIGN(auto killed, user.raw()->Run({"CLIENT", "KILL", "USER", user.name()}));
  EXPECT_EQ(killed.integer, 1);
  CTML_TEST_ASSIGN(auto got, store->Get("S", "v"));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->values.at(0).second, 2.0);
  // Again with a pipeline of megabytes: its write to the dead connection fails part-way (EPIPE),
  // which must not raise SIGPIPE in the process (without the guard in redis_connection.cc this
  // test dies of SIGPIPE).
  CTML_TEST_OK(user.raw()->Run({"CLIENT", "KILL", "USER", user.name()}).status());
  std::vector<FeatureVector> big;
  for (int i = 0; i < 500; ++i) {
    FeatureVector v{"B" + std::to_string(i), "w", i, "h", {}};
    for (int f = 0; f < 200; ++f) v.values.emplace_back("feature_" + std::to_string(f), 0.1 * f);
    big.push_back(std::move(v));
  }
  CTML_TEST_OK(store->Put(big));
  CTML_TEST_ASSIGN(auto n, store->Count("w"));
  EXPECT_EQ(n, 500);
}

}  // namespace
}  // namespace ctml::store::testing

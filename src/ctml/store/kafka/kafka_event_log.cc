// EventLog on Kafka with librdkafka's C++ API; the admin calls (CreateTopics,
// ListConsumerGroups, ListConsumerGroupOffsets) use the C API, which the C++ API lacks.
#include "ctml/store/kafka/kafka_event_log.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafkacpp.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "ctml/core/log.h"

namespace ctml::store {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr int kDefaultPartitions = 4;
constexpr int kMetadataTimeoutMs = 5000;
constexpr int kPingTimeoutMs = 2000;

struct KafkaOptions {
  std::string brokers;
  int partitions = kDefaultPartitions;
  int replication = -1;  // the broker's default
  std::string prefix;
  std::map<std::string, std::string> rdkafka;  // extra librdkafka settings
  std::string redacted_uri;
};

bool SecretName(const std::string& name) {
  std::string n;
  for (char c : name) n.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  for (const char* s : {"password", "secret", "key", "jaas", "token"}) {
    if (n.find(s) != std::string::npos) return true;
  }
  return false;
}

Result<int> PositiveParam(const std::map<std::string, std::string>& q, const std::string& key,
                          int fallback, const std::string& redacted) {
  auto it = q.find(key);
  if (it == q.end()) return fallback;
  char* end = nullptr;
  long v = std::strtol(it->second.c_str(), &end, 10);
  if (it->second.empty() || *end != '\0' || v <= 0 || v > 100000) {
    return Status::Invalid(
        "kafka event log URI '" + redacted + "': " + key + " must be a positive integer", key);
  }
  return static_cast<int>(v);
}

Result<KafkaOptions> ParseKafkaUri(const std::string& uri) {
  KafkaOptions o;
  o.redacted_uri = RedactKafkaUri(uri);
  auto bad = [&](const std::string& why) {
    return Status::Invalid("kafka event log URI '" + o.redacted_uri + "': " + why, "uri");
  };
  const std::string scheme = "kafka://";
  std::string head = uri.substr(0, scheme.size());
  for (char& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (head != scheme) {
    return bad("expected kafka://host:port[,host:port]?...");
  }
  std::string rest = uri.substr(scheme.size());
  std::string query;
  if (auto q = rest.find('?'); q != std::string::npos) {
    query = rest.substr(q + 1);
    rest.resize(q);
  }
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  if (rest.find('@') != std::string::npos) {
    return bad("credentials go in rdkafka.sasl.username / rdkafka.sasl.password, not before '@'");
  }
  if (rest.empty()) return bad("no broker address");
  // Every broker must be host:port with a numeric port.
  size_t start = 0;
  while (start <= rest.size()) {
    size_t comma = rest.find(',', start);
    std::string hp =
        rest.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    auto colon = hp.rfind(':');
    if (hp.empty() || colon == std::string::npos || colon == 0 || colon + 1 == hp.size() ||
        hp.find('/') != std::string::npos) {
      return bad("broker '" + hp + "' is not host:port");
    }
    for (size_t i = colon + 1; i < hp.size(); ++i) {
      if (!std::isdigit(static_cast<unsigned char>(hp[i]))) return bad("port of '" + hp + "'");
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  o.brokers = rest;
  std::map<std::string, std::string> q;
  start = 0;
  while (!query.empty() && start <= query.size()) {
    size_t amp = query.find('&', start);
    std::string kv =
        query.substr(start, amp == std::string::npos ? std::string::npos : amp - start);
    if (!kv.empty()) {
      auto eq = kv.find('=');
      if (eq == std::string::npos) return bad("parameter '" + kv + "' has no value");
      q[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    if (amp == std::string::npos) break;
    start = amp + 1;
  }
  for (const auto& [k, v] : q) {
    if (k.rfind("rdkafka.", 0) == 0 && k.size() > 8) {
      o.rdkafka[k.substr(8)] = v;
    } else if (k != "partitions" && k != "replication" && k != "prefix") {
      return bad("unknown parameter '" + k + "' (partitions, replication, prefix, rdkafka.<prop>)");
    }
  }
  CTML_ASSIGN_OR_RETURN(o.partitions,
                        PositiveParam(q, "partitions", kDefaultPartitions, o.redacted_uri));
  CTML_ASSIGN_OR_RETURN(o.replication, PositiveParam(q, "replication", -1, o.redacted_uri));
  if (auto it = q.find("prefix"); it != q.end()) o.prefix = it->second;
  return o;
}

// librdkafka's log lines go to ctml's logger (never record contents: librdkafka logs none).
class EventLogger : public RdKafka::EventCb {
 public:
  void event_cb(RdKafka::Event& event) override {
    switch (event.type()) {
      case RdKafka::Event::EVENT_ERROR:
        log::Warn("kafka", event.str(), {{"err", RdKafka::err2str(event.err())}});
        break;
      case RdKafka::Event::EVENT_LOG:
        if (event.severity() <= RdKafka::Event::EVENT_SEVERITY_WARNING) {
          log::Warn("kafka", event.str(), {{"facility", event.fac()}});
        } else {
          log::Debug("kafka", event.str(), {{"facility", event.fac()}});
        }
        break;
      default:
        break;
    }
  }
};

EventLogger& SharedEventLogger() {
  static EventLogger logger;
  return logger;
}

Result<std::unique_ptr<RdKafka::Conf>> MakeConf(
    const KafkaOptions& o, const std::vector<std::pair<std::string, std::string>>& defaults) {
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::string err;
  auto set = [&](const std::string& k, const std::string& v) -> Status {
    if (conf->set(k, v, err) != RdKafka::Conf::CONF_OK) {
      return Status::Invalid(
          "kafka event log URI '" + o.redacted_uri + "': setting '" + k + "': " + err, "uri");
    }
    return Status::OK();
  };
  CTML_RETURN_NOT_OK(set("bootstrap.servers", o.brokers));
  CTML_RETURN_NOT_OK(set("client.id", "ctml"));
  CTML_RETURN_NOT_OK(set("reconnect.backoff.max.ms", "2000"));
  for (const auto& [k, v] : defaults) CTML_RETURN_NOT_OK(set(k, v));
  for (const auto& [k, v] : o.rdkafka) CTML_RETURN_NOT_OK(set(k, v));
  if (conf->set("event_cb", &SharedEventLogger(), err) != RdKafka::Conf::CONF_OK) {
    return Status::Internal("kafka: " + err);
  }
  return conf;
}

Status KafkaError(const std::string& what, RdKafka::ErrorCode err) {
  std::string msg = "kafka: " + what + ": " + RdKafka::err2str(err);
  switch (err) {
    case RdKafka::ERR__TRANSPORT:
    case RdKafka::ERR__ALL_BROKERS_DOWN:
    case RdKafka::ERR__TIMED_OUT:
    case RdKafka::ERR__MSG_TIMED_OUT:
    case RdKafka::ERR_REQUEST_TIMED_OUT:
    case RdKafka::ERR_NOT_COORDINATOR:
    case RdKafka::ERR_COORDINATOR_NOT_AVAILABLE:
    case RdKafka::ERR_COORDINATOR_LOAD_IN_PROGRESS:
    case RdKafka::ERR_LEADER_NOT_AVAILABLE:
    case RdKafka::ERR_NOT_LEADER_FOR_PARTITION:
    case RdKafka::ERR_NOT_ENOUGH_REPLICAS:
    case RdKafka::ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case RdKafka::ERR__QUEUE_FULL:
      return Status::Unavailable(msg);
    case RdKafka::ERR__UNKNOWN_TOPIC:
    case RdKafka::ERR_UNKNOWN_TOPIC_OR_PART:
      return Status::NotFound(msg);
    case RdKafka::ERR_TOPIC_EXCEPTION:
    case RdKafka::ERR__INVALID_ARG:
      return Status::Invalid(msg);
    default:
      return Status::IOError(msg);
  }
}

Status CheckName(const std::string& name, const char* what) {
  if (name.empty()) return Status::Invalid(std::string("kafka: empty ") + what, what);
  return Status::OK();
}

// ---------------------------------------------------------------------------------------------
// A C admin request on `rk` and its result event, freed on scope exit.
class AdminCall {
 public:
  explicit AdminCall(rd_kafka_t* rk) : queue_(rd_kafka_queue_new(rk)) {}
  ~AdminCall() {
    if (event_ != nullptr) rd_kafka_event_destroy(event_);
    if (options_ != nullptr) rd_kafka_AdminOptions_destroy(options_);
    rd_kafka_queue_destroy(queue_);
  }
  AdminCall(const AdminCall&) = delete;
  AdminCall& operator=(const AdminCall&) = delete;

  rd_kafka_AdminOptions_t* Options(rd_kafka_t* rk, rd_kafka_admin_op_t op, int timeout_ms) {
    options_ = rd_kafka_AdminOptions_new(rk, op);
    char err[256];
    rd_kafka_AdminOptions_set_request_timeout(options_, timeout_ms, err, sizeof(err));
    return options_;
  }
  rd_kafka_queue_t* queue() { return queue_; }

  // Waits for the result event; Unavailable on timeout, the request's error otherwise.
  Result<rd_kafka_event_t*> Wait(const std::string& what, int timeout_ms) {
    event_ = rd_kafka_queue_poll(queue_, timeout_ms);
    if (event_ == nullptr) return Status::Unavailable("kafka: " + what + ": no answer in time");
    if (rd_kafka_event_error(event_) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return KafkaError(what + " (" + rd_kafka_event_error_string(event_) + ")",
                        static_cast<RdKafka::ErrorCode>(rd_kafka_event_error(event_)));
    }
    return event_;
  }

 private:
  rd_kafka_queue_t* queue_;
  rd_kafka_AdminOptions_t* options_ = nullptr;
  rd_kafka_event_t* event_ = nullptr;
};

// ---------------------------------------------------------------------------------------------
// One delivery report awaited by Append/AppendBatch.
struct Delivery {
  bool done = false;
  RdKafka::ErrorCode err = RdKafka::ERR_NO_ERROR;
  int32_t partition = 0;
  int64_t offset = 0;
};

class DeliveryWaiter : public RdKafka::DeliveryReportCb {
 public:
  void dr_cb(RdKafka::Message& msg) override {
    auto* d = static_cast<Delivery*>(msg.msg_opaque());
    if (d == nullptr) return;
    std::lock_guard<std::mutex> lock(mu_);
    d->err = msg.err();
    d->partition = msg.partition();
    d->offset = msg.offset();
    d->done = true;
    cv_.notify_all();
  }
  // Waits until every delivery in `ds` is reported (librdkafka reports each message once, after
  // success or message.timeout.ms).
  void WaitAll(const std::vector<Delivery*>& ds) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] {
      return std::all_of(ds.begin(), ds.end(), [](const Delivery* d) { return d->done; });
    });
  }
  void Fail(Delivery* d, RdKafka::ErrorCode err) {
    std::lock_guard<std::mutex> lock(mu_);
    d->err = err;
    d->done = true;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
};

// ---------------------------------------------------------------------------------------------
class KafkaConsumer : public Consumer, public RdKafka::RebalanceCb {
 public:
  KafkaConsumer(std::string prefix, std::string redacted_uri)
      : prefix_(std::move(prefix)), redacted_uri_(std::move(redacted_uri)) {}
  ~KafkaConsumer() override {
    if (consumer_) {
      consumer_->close();  // leaves the group (revokes through rebalance_cb)
      consumer_.reset();
    }
  }

  Status Start(const KafkaOptions& o, const std::string& group,
               const std::vector<std::string>& topics) {
    CTML_ASSIGN_OR_RETURN(auto conf, MakeConf(o, {{"group.id", prefix_ + group},
                                                  {"enable.auto.commit", "false"},
                                                  {"enable.auto.offset.store", "false"},
                                                  {"auto.offset.reset", "earliest"},
                                                  {"enable.partition.eof", "false"},
                                                  {"fetch.wait.max.ms", "100"},
                                                  {"partition.assignment.strategy", "range"}}));
    std::string err;
    if (conf->set("rebalance_cb", static_cast<RdKafka::RebalanceCb*>(this), err) !=
        RdKafka::Conf::CONF_OK) {
      return Status::Internal("kafka: " + err);
    }
    consumer_.reset(RdKafka::KafkaConsumer::create(conf.get(), err));
    if (!consumer_) return Status::Invalid("kafka consumer for '" + redacted_uri_ + "': " + err);
    std::vector<std::string> full;
    for (const auto& t : topics) full.push_back(prefix_ + t);
    RdKafka::ErrorCode e = consumer_->subscribe(full);
    if (e != RdKafka::ERR_NO_ERROR) return KafkaError("subscribe", e);
    return Status::OK();
  }

  // Eager rebalancing: on assign, start each partition at its committed offset (INVALID =
  // "the committed one"); on revoke, forget the partitions so that Commit skips them.
  void rebalance_cb(RdKafka::KafkaConsumer* consumer, RdKafka::ErrorCode err,
                    std::vector<RdKafka::TopicPartition*>& partitions) override {
    std::lock_guard<std::mutex> lock(owned_mu_);
    if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
      for (auto* tp : partitions) {
        tp->set_offset(RdKafka::Topic::OFFSET_INVALID);
        owned_.insert({tp->topic(), tp->partition()});
      }
      consumer->assign(partitions);
    } else {
      for (auto* tp : partitions) owned_.erase({tp->topic(), tp->partition()});
      consumer->unassign();
    }
  }

  Result<std::vector<LogRecord>> Poll(size_t max_records, milliseconds timeout) override {
    std::vector<LogRecord> out;
    if (max_records == 0) return out;
    auto deadline = Clock::now() + timeout;
    while (out.size() < max_records) {
      // Wait for the first record up to the deadline; then take only what is already there.
      int wait_ms = 0;
      if (out.empty()) {
        auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
        if (left <= 0) break;
        wait_ms = static_cast<int>(std::min<int64_t>(left, 100));
      }
      std::unique_ptr<RdKafka::Message> msg(consumer_->consume(wait_ms));
      if (!msg) continue;
      RdKafka::ErrorCode e = msg->err();
      if (e == RdKafka::ERR_NO_ERROR) {
        LogRecord r;
        r.topic = msg->topic_name().substr(prefix_.size());
        r.partition = msg->partition();
        r.offset = msg->offset();
        if (msg->key_pointer() != nullptr) {
          r.key.assign(static_cast<const char*>(msg->key_pointer()), msg->key_len());
        }
        if (msg->payload() != nullptr) {
          r.value.assign(static_cast<const char*>(msg->payload()), msg->len());
        }
        r.timestamp_us = msg->timestamp().timestamp * 1000;
        out.push_back(std::move(r));
        continue;
      }
      if (e == RdKafka::ERR__TIMED_OUT || e == RdKafka::ERR__PARTITION_EOF) {
        if (!out.empty()) break;
        continue;
      }
      if (e == RdKafka::ERR__FATAL) return KafkaError("consume", e);
      // Transient (broker down, topic metadata not propagated yet): librdkafka retries itself.
      log::Debug("kafka", "consume", {{"err", RdKafka::err2str(e)}});
      if (!out.empty()) break;
    }
    return out;
  }

  Status Commit(const std::vector<LogRecord>& records) override {
    std::map<std::pair<std::string, int32_t>, int64_t> next;
    for (const auto& r : records) {
      auto key = std::make_pair(prefix_ + r.topic, r.partition);
      auto it = next.find(key);
      if (it == next.end() || it->second < r.offset + 1) next[key] = r.offset + 1;
    }
    std::vector<RdKafka::TopicPartition*> tps;
    {
      std::lock_guard<std::mutex> lock(owned_mu_);
      for (const auto& [key, offset] : next) {
        if (owned_.count(key) == 0) {
          log::Warn("kafka", "not committing a partition this consumer no longer owns",
                    {{"topic", key.first}, {"partition", std::to_string(key.second)}});
          continue;
        }
        tps.push_back(RdKafka::TopicPartition::create(key.first, key.second, offset));
      }
    }
    if (tps.empty()) return Status::OK();
    RdKafka::ErrorCode e = consumer_->commitSync(tps);
    Status st = e == RdKafka::ERR_NO_ERROR ? Status::OK() : KafkaError("commit", e);
    for (const auto* tp : tps) {
      if (st.ok() && tp->err() != RdKafka::ERR_NO_ERROR) st = KafkaError("commit", tp->err());
    }
    RdKafka::TopicPartition::destroy(tps);
    return st;
  }

  Status Rewind() override {
    std::vector<RdKafka::TopicPartition*> tps;
    RdKafka::ErrorCode e = consumer_->assignment(tps);
    if (e != RdKafka::ERR_NO_ERROR) return KafkaError("assignment", e);
    if (tps.empty()) return Status::OK();
    // The committed offsets are asked for explicitly (an error while the broker is unreachable:
    // the caller retries), then each partition is re-assigned at that exact offset; records
    // fetched before are dropped by librdkafka's fetch versioning. Re-assigning at
    // OFFSET_INVALID instead would leave the offset lookup to librdkafka, whose partitions
    // stayed stuck when that lookup met a restarting broker (seen with librdkafka 2.0.2).
    e = consumer_->committed(tps, 10000);
    if (e != RdKafka::ERR_NO_ERROR) {
      RdKafka::TopicPartition::destroy(tps);
      return KafkaError("rewind: committed offsets", e);
    }
    for (auto* tp : tps) {
      if (tp->offset() < 0) tp->set_offset(RdKafka::Topic::OFFSET_BEGINNING);  // never committed
    }
    e = consumer_->assign(tps);
    RdKafka::TopicPartition::destroy(tps);
    return e == RdKafka::ERR_NO_ERROR ? Status::OK() : KafkaError("rewind", e);
  }

 private:
  std::string prefix_;
  std::string redacted_uri_;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
  std::mutex owned_mu_;
  std::set<std::pair<std::string, int32_t>> owned_;
};

// ---------------------------------------------------------------------------------------------
class KafkaEventLog : public EventLog {
 public:
  explicit KafkaEventLog(KafkaOptions o) : o_(std::move(o)) {}
  ~KafkaEventLog() override {
    stop_ = true;
    if (poller_.joinable()) poller_.join();
    if (producer_) producer_->flush(5000);
  }

  Status Start() {
    CTML_ASSIGN_OR_RETURN(auto conf, MakeConf(o_, {{"enable.idempotence", "true"},
                                                   {"acks", "all"},
                                                   {"partitioner", "murmur2_random"},
                                                   {"linger.ms", "1"},
                                                   {"message.timeout.ms", "30000"}}));
    std::string err;
    if (conf->set("dr_cb", &waiter_, err) != RdKafka::Conf::CONF_OK) {
      return Status::Internal("kafka: " + err);
    }
    producer_.reset(RdKafka::Producer::create(conf.get(), err));
    if (!producer_) return Status::Invalid("kafka producer for '" + o_.redacted_uri + "': " + err);
    // Serves delivery reports (and log events) for all Append calls of this instance.
    poller_ = std::thread([this] {
      while (!stop_) producer_->poll(50);
    });
    return Status::OK();
  }

  Result<RecordPosition> Append(const std::string& topic, const std::string& key,
                                const std::string& value) override {
    CTML_ASSIGN_OR_RETURN(auto positions, AppendBatch(topic, {{key, value}}));
    return positions.front();
  }

  Result<std::vector<RecordPosition>> AppendBatch(
      const std::string& topic,
      const std::vector<std::pair<std::string, std::string>>& kvs) override {
    CTML_RETURN_NOT_OK(CheckName(topic, "topic"));
    std::vector<RecordPosition> out;
    if (kvs.empty()) return out;
    const std::string full = o_.prefix + topic;
    CTML_RETURN_NOT_OK(EnsureTopic(full));
    std::vector<Delivery> ds(kvs.size());
    std::vector<Delivery*> wait;
    for (size_t i = 0; i < kvs.size(); ++i) {
      const auto& [k, v] = kvs[i];
      RdKafka::ErrorCode e;
      while (true) {
        e = producer_->produce(full, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
                               const_cast<char*>(v.data()), v.size(), k.data(), k.size(), 0,
                               &ds[i]);
        if (e != RdKafka::ERR__QUEUE_FULL) break;
        std::this_thread::sleep_for(milliseconds(10));  // the poller drains the queue
      }
      if (e != RdKafka::ERR_NO_ERROR) {
        waiter_.Fail(&ds[i], e);
        break;  // later records would overtake nothing: stop here
      }
      wait.push_back(&ds[i]);
    }
    waiter_.WaitAll(wait);
    for (size_t i = 0; i < kvs.size(); ++i) {
      if (!ds[i].done) break;
      if (ds[i].err != RdKafka::ERR_NO_ERROR) {
        if (ds[i].err == RdKafka::ERR__UNKNOWN_TOPIC ||
            ds[i].err == RdKafka::ERR_UNKNOWN_TOPIC_OR_PART) {
          std::lock_guard<std::mutex> lock(mu_);
          known_topics_.erase(full);
        }
        return KafkaError("append to '" + topic + "'", ds[i].err);
      }
      out.push_back({ds[i].partition, ds[i].offset});
    }
    if (out.size() != kvs.size()) return Status::Internal("kafka: a record was not produced");
    return out;
  }

  Result<std::unique_ptr<Consumer>> Subscribe(const std::string& group,
                                              const std::vector<std::string>& topics) override {
    CTML_RETURN_NOT_OK(CheckName(group, "group"));
    if (topics.empty()) return Status::Invalid("kafka: subscribe to no topic", "topics");
    for (const auto& t : topics) {
      CTML_RETURN_NOT_OK(CheckName(t, "topic"));
      CTML_RETURN_NOT_OK(EnsureTopic(o_.prefix + t));
    }
    auto consumer = std::make_unique<KafkaConsumer>(o_.prefix, o_.redacted_uri);
    CTML_RETURN_NOT_OK(consumer->Start(o_, group, topics));
    return std::unique_ptr<Consumer>(std::move(consumer));
  }

  Result<std::vector<std::string>> ListTopics() override {
    RdKafka::Metadata* raw = nullptr;
    RdKafka::ErrorCode e = producer_->metadata(true, nullptr, &raw, kMetadataTimeoutMs);
    std::unique_ptr<RdKafka::Metadata> md(raw);
    if (e != RdKafka::ERR_NO_ERROR) return KafkaError("list topics", e);
    std::vector<std::string> out;
    for (const auto* t : *md->topics()) {
      const std::string& name = t->topic();
      if (name.rfind("__", 0) == 0 || name.rfind(o_.prefix, 0) != 0) continue;
      if (t->err() != RdKafka::ERR_NO_ERROR) continue;
      out.push_back(name.substr(o_.prefix.size()));
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  Result<std::vector<PartitionInfo>> Partitions(const std::string& topic) override {
    CTML_RETURN_NOT_OK(CheckName(topic, "topic"));
    const std::string full = o_.prefix + topic;
    CTML_ASSIGN_OR_RETURN(int count, PartitionCount(full));
    if (count == 0) return Status::NotFound("kafka: no topic '" + topic + "'");
    std::vector<PartitionInfo> out;
    for (int32_t p = 0; p < count; ++p) {
      int64_t low = 0, high = 0;
      RdKafka::ErrorCode e =
          producer_->query_watermark_offsets(full, p, &low, &high, kMetadataTimeoutMs);
      // Right after a topic is created or a broker restarts, its partitions may have no leader
      // for a moment: wait for one (up to ~5 s) rather than fail the caller.
      for (int retry = 0; retry < 50 && (e == RdKafka::ERR_NOT_LEADER_FOR_PARTITION ||
                                         e == RdKafka::ERR_LEADER_NOT_AVAILABLE);
           ++retry) {
        std::this_thread::sleep_for(milliseconds(100));
        e = producer_->query_watermark_offsets(full, p, &low, &high, kMetadataTimeoutMs);
      }
      if (e != RdKafka::ERR_NO_ERROR) return KafkaError("watermarks of '" + topic + "'", e);
      out.push_back({p, high});
    }
    return out;
  }

  Result<std::vector<GroupLag>> Lag(const std::string& topic) override {
    CTML_RETURN_NOT_OK(CheckName(topic, "topic"));
    std::vector<GroupLag> out;
    auto parts = Partitions(topic);
    if (parts.status().code() == StatusCode::kNotFound) return out;
    CTML_RETURN_NOT_OK(parts.status());
    CTML_ASSIGN_OR_RETURN(auto groups, ListGroups());
    const std::string full = o_.prefix + topic;
    for (const auto& g : groups) {
      CTML_ASSIGN_OR_RETURN(auto committed, GroupOffsets(g, full, *parts));
      if (committed.empty()) continue;  // never committed on this topic
      GroupLag lag;
      lag.group = g.substr(o_.prefix.size());
      lag.topic = topic;
      for (const auto& p : *parts) {
        auto it = committed.find(p.partition);
        int64_t c = it == committed.end() ? 0 : it->second;
        lag.committed += c;
        lag.lag += std::max<int64_t>(0, p.end_offset - c);
      }
      out.push_back(std::move(lag));
    }
    return out;
  }

  Status Ping() override {
    RdKafka::Metadata* raw = nullptr;
    RdKafka::ErrorCode e = producer_->metadata(false, nullptr, &raw, kPingTimeoutMs);
    std::unique_ptr<RdKafka::Metadata> md(raw);
    if (e != RdKafka::ERR_NO_ERROR || md == nullptr || md->brokers()->empty()) {
      return Status::Unavailable("kafka at '" + o_.redacted_uri +
                                 "' does not answer: " + RdKafka::err2str(e));
    }
    return Status::OK();
  }

 private:
  // Partition count of `full` from a metadata request; 0 when the topic does not exist.
  Result<int> PartitionCount(const std::string& full) {
    std::string err;
    std::unique_ptr<RdKafka::Topic> t(RdKafka::Topic::create(producer_.get(), full, nullptr, err));
    if (!t) return Status::Invalid("kafka: topic '" + full + "': " + err, "topic");
    RdKafka::Metadata* raw = nullptr;
    RdKafka::ErrorCode e = producer_->metadata(false, t.get(), &raw, kMetadataTimeoutMs);
    std::unique_ptr<RdKafka::Metadata> md(raw);
    if (e != RdKafka::ERR_NO_ERROR) return KafkaError("metadata of '" + full + "'", e);
    for (const auto* tm : *md->topics()) {
      if (tm->topic() != full) continue;
      if (tm->err() == RdKafka::ERR_UNKNOWN_TOPIC_OR_PART) return 0;
      if (tm->err() != RdKafka::ERR_NO_ERROR)
        return KafkaError("metadata of '" + full + "'", tm->err());
      for (const auto* pm : *tm->partitions()) {
        if (pm->leader() < 0) return Status::Unavailable("kafka: '" + full + "' has no leader yet");
      }
      return static_cast<int>(tm->partitions()->size());
    }
    return 0;
  }

  // Creates `full` (admin API) unless it exists, then waits until its metadata has leaders.
  Status EnsureTopic(const std::string& full) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (known_topics_.count(full)) return Status::OK();
    }
    // Retried for a while: the broker may be restarting, or the new topic not in metadata yet.
    auto deadline = Clock::now() + milliseconds(15000);
    bool created = false;
    while (true) {
      auto count = PartitionCount(full);
      if (count.ok() && *count > 0) break;
      if (!count.ok() && count.status().code() == StatusCode::kInvalid) return count.status();
      if (count.ok() && !created) {
        CTML_RETURN_NOT_OK(CreateTopic(full));
        created = true;
        continue;
      }
      if (Clock::now() > deadline) {
        return count.ok() ? Status::Unavailable("kafka: topic '" + full + "' did not appear")
                          : count.status();
      }
      std::this_thread::sleep_for(milliseconds(100));
    }
    std::lock_guard<std::mutex> lock(mu_);
    known_topics_.insert(full);
    return Status::OK();
  }

  Status CreateTopic(const std::string& full) {
    rd_kafka_t* rk = producer_->c_ptr();
    char err[512];
    rd_kafka_NewTopic_t* nt =
        rd_kafka_NewTopic_new(full.c_str(), o_.partitions, o_.replication, err, sizeof(err));
    if (nt == nullptr) return Status::Invalid("kafka: topic '" + full + "': " + err, "topic");
    AdminCall call(rk);
    rd_kafka_CreateTopics(rk, &nt, 1,
                          call.Options(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS, kMetadataTimeoutMs),
                          call.queue());
    rd_kafka_NewTopic_destroy(nt);
    CTML_ASSIGN_OR_RETURN(rd_kafka_event_t * ev,
                          call.Wait("create topic", kMetadataTimeoutMs + 2000));
    size_t n = 0;
    const rd_kafka_topic_result_t** res =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    for (size_t i = 0; i < n; ++i) {
      rd_kafka_resp_err_t e = rd_kafka_topic_result_error(res[i]);
      if (e == RD_KAFKA_RESP_ERR_NO_ERROR || e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) continue;
      const char* why = rd_kafka_topic_result_error_string(res[i]);
      return KafkaError("create topic '" + full + "' (" + (why ? why : "") + ")",
                        static_cast<RdKafka::ErrorCode>(e));
    }
    log::Info("kafka", "created topic",
              {{"topic", full}, {"partitions", std::to_string(o_.partitions)}});
    return Status::OK();
  }

  // Consumer groups on the cluster whose names carry this instance's prefix.
  Result<std::vector<std::string>> ListGroups() {
    rd_kafka_t* rk = producer_->c_ptr();
    AdminCall call(rk);
    rd_kafka_ListConsumerGroups(
        rk, call.Options(rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS, kMetadataTimeoutMs),
        call.queue());
    CTML_ASSIGN_OR_RETURN(rd_kafka_event_t * ev,
                          call.Wait("list consumer groups", kMetadataTimeoutMs + 2000));
    const rd_kafka_ListConsumerGroups_result_t* res = rd_kafka_event_ListConsumerGroups_result(ev);
    // A partial answer (e.g. a coordinator still loading its offsets after a broker restart)
    // would miss groups, and a caller would take their committed offsets for 0: fail instead.
    size_t nerr = 0;
    const rd_kafka_error_t** errs = rd_kafka_ListConsumerGroups_result_errors(res, &nerr);
    if (nerr > 0) {
      return Status::Unavailable(std::string("kafka: list consumer groups: ") +
                                 rd_kafka_error_string(errs[0]));
    }
    size_t n = 0;
    const rd_kafka_ConsumerGroupListing_t** groups =
        rd_kafka_ListConsumerGroups_result_valid(res, &n);
    std::vector<std::string> out;
    for (size_t i = 0; i < n; ++i) {
      std::string g = rd_kafka_ConsumerGroupListing_group_id(groups[i]);
      if (g.rfind(o_.prefix, 0) == 0) out.push_back(g);
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  // Committed offsets (>= 0) of `group` on the partitions of `full`.
  Result<std::map<int32_t, int64_t>> GroupOffsets(const std::string& group, const std::string& full,
                                                  const std::vector<PartitionInfo>& parts) {
    rd_kafka_t* rk = producer_->c_ptr();
    rd_kafka_topic_partition_list_t* tpl =
        rd_kafka_topic_partition_list_new(static_cast<int>(parts.size()));
    for (const auto& p : parts) rd_kafka_topic_partition_list_add(tpl, full.c_str(), p.partition);
    rd_kafka_ListConsumerGroupOffsets_t* req =
        rd_kafka_ListConsumerGroupOffsets_new(group.c_str(), tpl);
    rd_kafka_topic_partition_list_destroy(tpl);
    AdminCall call(rk);
    rd_kafka_ListConsumerGroupOffsets(
        rk, &req, 1,
        call.Options(rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS, kMetadataTimeoutMs),
        call.queue());
    rd_kafka_ListConsumerGroupOffsets_destroy(req);
    CTML_ASSIGN_OR_RETURN(rd_kafka_event_t * ev,
                          call.Wait("list consumer group offsets", kMetadataTimeoutMs + 2000));
    size_t n = 0;
    const rd_kafka_group_result_t** res = rd_kafka_ListConsumerGroupOffsets_result_groups(
        rd_kafka_event_ListConsumerGroupOffsets_result(ev), &n);
    std::map<int32_t, int64_t> out;
    for (size_t i = 0; i < n; ++i) {
      if (const rd_kafka_error_t* err = rd_kafka_group_result_error(res[i])) {
        // A group that disappeared meanwhile has no offsets; other errors are real.
        if (rd_kafka_error_code(err) == RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND) continue;
        return Status::Unavailable(std::string("kafka: offsets of a group: ") +
                                   rd_kafka_error_string(err));
      }
      const rd_kafka_topic_partition_list_t* got = rd_kafka_group_result_partitions(res[i]);
      for (int j = 0; got != nullptr && j < got->cnt; ++j) {
        const auto& tp = got->elems[j];
        if (tp.err == RD_KAFKA_RESP_ERR_NO_ERROR && tp.offset >= 0 && full == tp.topic) {
          out[tp.partition] = tp.offset;
        }
      }
    }
    return out;
  }

  KafkaOptions o_;
  DeliveryWaiter waiter_;
  std::unique_ptr<RdKafka::Producer> producer_;
  std::atomic<bool> stop_{false};
  std::thread poller_;
  std::mutex mu_;
  std::set<std::string> known_topics_;
};

}  // namespace

std::string RedactKafkaUri(const std::string& uri) {
  std::string out = uri;
  auto sep = out.find("://");
  size_t from = sep == std::string::npos ? 0 : sep + 3;
  auto q = out.find('?', from);
  auto at = out.find('@', from);
  if (at != std::string::npos && (q == std::string::npos || at < q)) {
    out = out.substr(0, from) + "***" + out.substr(at);
    q = out.find('?', from);
  }
  if (q == std::string::npos) return out;
  std::string result = out.substr(0, q + 1);
  size_t start = q + 1;
  while (start <= out.size()) {
    size_t amp = out.find('&', start);
    std::string kv = out.substr(start, amp == std::string::npos ? std::string::npos : amp - start);
    auto eq = kv.find('=');
    if (eq != std::string::npos && SecretName(kv.substr(0, eq))) kv = kv.substr(0, eq) + "=***";
    result += kv;
    if (amp == std::string::npos) break;
    result += '&';
    start = amp + 1;
  }
  return result;
}

Result<std::unique_ptr<EventLog>> OpenKafkaEventLog(const std::string& uri) {
  CTML_ASSIGN_OR_RETURN(auto opts, ParseKafkaUri(uri));
  auto log = std::make_unique<KafkaEventLog>(std::move(opts));
  CTML_RETURN_NOT_OK(log->Start());
  return std::unique_ptr<EventLog>(std::move(log));
}

}  // namespace ctml::store

// What the syncer knows of its managed Secrets, to route their watch events: which InfisicalSecrets
// write each one (an event brings them back: drift repair), and which versions are the echo of its
// own writes (those need bring nothing back), even when the echo arrives before the write's answer.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "kube/api.h"
#include "syncer/object_fields.h"

namespace ifo::syncer {

class ManagedIndex {
 public:
  // Resource `key` ("ns/name") writes these Secrets ("ns/name"), replacing what it wrote before.
  void set_targets(const std::string& key, const std::vector<std::string>& secrets);
  // Resource `key` is gone.
  void forget(const std::string& key);
  // The resources that write Secret ns/name.
  std::vector<std::string> owners_of(const std::string& ns, const std::string& name) const;
  // Every resource with targets recorded.
  std::vector<std::string> known_keys() const;

  // How an owner is brought back when a change held during a write turns out not to be its echo (the
  // controller's work queue). Set before the first write.
  void set_requeue(std::function<void(const std::string& key)> requeue);

  // A write of Secret ns/name is about to be sent. Until it ends, the Secret's watch events are held
  // rather than routed: the echo of a write often arrives before the write's answer, and routing it
  // then would bring the writer back for a reconcile with nothing to do.
  void begin_write(const std::string& ns, const std::string& name);
  // The write begun last ended: `written` is the server's answer (nullptr: it failed). The echo, when
  // already held, is settled; otherwise its version is remembered for the event to come. Any other
  // event held meanwhile (someone else changed the Secret, or the write failed) brings the owners back.
  void end_write(const std::string& ns, const std::string& name, const Object& written);
  // Routing of an added or modified event of Secret ns/name: true when it needs nobody brought back
  // now, because it is the echo of our last write (each write is answered once) or it arrived while a
  // write of the Secret is in flight (held; end_write settles it).
  bool absorbs_event(const std::string& ns, const std::string& name, const std::string& resource_version);

 private:
  // Writes of one Secret in flight, and the versions its events carried meanwhile.
  struct InFlight {
    int writes = 0;
    std::vector<std::string> held;
  };

  mutable std::mutex mu_;
  std::function<void(const std::string& key)> requeue_;
  std::unordered_map<std::string, InFlight> in_flight_;         // "ns/name" -> writes being sent
  std::map<std::string, std::set<std::string>> secret_owners_;  // "ns/secret" -> resource keys
  std::map<std::string, std::vector<std::string>> targets_;     // resource key -> "ns/secret"
  // "ns/name" -> resourceVersion of our last write of that Secret whose watch event has not been seen
  // yet (at most one entry per Secret).
  std::unordered_map<std::string, std::string> own_writes_;
};

}  // namespace ifo::syncer

// A source's own options: a struct in the source's header whose knobs are declared once, in its
// visit(), with their key, bounds and doc. The configuration reads `sources.<name>` and
// `sightline config default` prints it through that one declaration; neither knows a source.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace sightline::sources {

// What reads or prints the knobs (the YAML reader, the default printer, the key lister).
class OptionVisitor {
 public:
  virtual ~OptionVisitor() = default;
  virtual void flag(std::string_view key, bool& v, std::string_view doc) = 0;
  virtual void number(std::string_view key, uint32_t& v, uint32_t lo, uint32_t hi,
                      std::string_view doc) = 0;
  // A list of names (patterns, syscall names ...); each item a non-empty string.
  virtual void names(std::string_view key, std::vector<std::string>& v, std::string_view doc) = 0;
};

class OwnOptions {
 public:
  virtual ~OwnOptions() = default;
  virtual std::unique_ptr<OwnOptions> clone() const = 0;
  // The knobs a configuration file may set. Fields set only by code (callbacks, the CLI's own
  // flags) are left out.
  virtual void visit(OptionVisitor& v) { (void)v; }
  // What the knobs say once read (a list's items parsed, values that go together): an error
  // names the key and the item; the configuration reports it where the section is.
  virtual core::Status check() const { return {}; }
};

// Base of a source's options struct T: `struct L7Options : Options<L7Options> {...}`.
template <class T>
class Options : public OwnOptions {
 public:
  std::unique_ptr<OwnOptions> clone() const override {
    return std::make_unique<T>(static_cast<const T&>(*this));
  }
};

// Holds a source's own options by value (copies clone); empty means the source's defaults.
class OwnHolder {
 public:
  OwnHolder() = default;
  explicit OwnHolder(std::unique_ptr<OwnOptions> p) : p_(std::move(p)) {}
  OwnHolder(const OwnHolder& o) : p_(o.p_ ? o.p_->clone() : nullptr) {}
  OwnHolder(OwnHolder&&) noexcept = default;
  OwnHolder& operator=(const OwnHolder& o) {
    if (this != &o) p_ = o.p_ ? o.p_->clone() : nullptr;
    return *this;
  }
  OwnHolder& operator=(OwnHolder&&) noexcept = default;

  OwnOptions* get() const { return p_.get(); }
  // The options as T, made with T's defaults when there are none. A holder of another
  // source's type is a programming error: it is replaced by T's defaults.
  template <class T>
  T& as() {
    if (auto* t = dynamic_cast<T*>(p_.get())) return *t;
    p_ = std::make_unique<T>();
    return static_cast<T&>(*p_);
  }
  template <class T>
  const T& as() const {
    if (auto* t = dynamic_cast<const T*>(p_.get())) return *t;
    static const T defaults;
    return defaults;
  }

 private:
  std::unique_ptr<OwnOptions> p_;
};

}  // namespace sightline::sources

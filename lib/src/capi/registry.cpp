#include "capi/registry.hpp"

#include <algorithm>
#include <complex>
#include <cstring>

#include <cereal/types/complex.hpp>
#include <mpisnap/array_view.hpp>
#include <mpisnap/mpisnap.h>

namespace mpisnap::capi {
namespace {

// Calls f with a value of the C type of `type` (enum mpisnap_type).
template <class F>
void with_type(int type, F&& f) {
  switch (type) {
    case MPISNAP_INT8: return f(std::int8_t{});
    case MPISNAP_UINT8: return f(std::uint8_t{});
    case MPISNAP_INT16: return f(std::int16_t{});
    case MPISNAP_UINT16: return f(std::uint16_t{});
    case MPISNAP_INT32: return f(std::int32_t{});
    case MPISNAP_UINT32: return f(std::uint32_t{});
    case MPISNAP_INT64: return f(std::int64_t{});
    case MPISNAP_UINT64: return f(std::uint64_t{});
    case MPISNAP_FLOAT: return f(float{});
    case MPISNAP_DOUBLE: return f(double{});
    case MPISNAP_BOOL: return f(bool{});
    case MPISNAP_CHAR: return f(char{});
    case MPISNAP_COMPLEX_FLOAT: return f(std::complex<float>{});
    case MPISNAP_COMPLEX_DOUBLE: return f(std::complex<double>{});
    default: throw CodedError(MPISNAP_ERR_ARG, "mpisnap: unknown element type " + std::to_string(type));
  }
}

void check_name(const char* name, const char* call) {
  if (!name) throw CodedError(MPISNAP_ERR_ARG, std::string("mpisnap: ") + call + ": the name is NULL");
  const std::string n = name;
  if (n.empty() || n.find('/') != std::string::npos || n == "." || n == "..")
    throw CodedError(MPISNAP_ERR_NAME, std::string("mpisnap: ") + call + ": '" + n +
                                           "' is not a name a buffer can have (empty, '.', '..', or with '/')");
}

void check_order(int order, const char* call) {
  if (order != MPISNAP_ROW_MAJOR && order != MPISNAP_COLUMN_MAJOR)
    throw CodedError(MPISNAP_ERR_ARG, std::string("mpisnap: ") + call + ": unknown order " + std::to_string(order));
}

// The caller's extents (any sign checked) in row-major order.
std::vector<std::size_t> row_major(const std::vector<std::int64_t>& extents, int order, const std::string& what) {
  std::vector<std::size_t> out;
  for (std::int64_t e : extents) {
    if (e < 0) throw CodedError(MPISNAP_ERR_ARG, "mpisnap: " + what + ": extent " + std::to_string(e) + " is negative");
    out.push_back(static_cast<std::size_t>(e));
  }
  if (order == MPISNAP_COLUMN_MAJOR) std::reverse(out.begin(), out.end());
  return out;
}

}  // namespace

Registry::Entry& Registry::find(const char* name, const char* call) {
  check_name(name, call);
  for (Entry& e : entries_)
    if (e.name == name) return e;
  throw CodedError(MPISNAP_ERR_NAME, std::string("mpisnap: ") + call + ": no buffer named '" + name + "' is protected");
}

void Registry::protect(const char* name, void* data, int type, const std::vector<std::int64_t>& extents, int order,
                       bool scalar) {
  const char* call = scalar ? "mpisnap_protect_scalar" : "mpisnap_protect_array";
  check_name(name, call);
  check_order(order, call);
  with_type(type, [](auto) {});
  Entry e;
  e.name = name;
  e.data = data;
  e.type = type;
  e.scalar = scalar;
  e.order = order;
  if (!scalar) {
    if (extents.empty() || extents.size() > MPISNAP_MAX_RANK)
      throw CodedError(MPISNAP_ERR_ARG, std::string("mpisnap: ") + call + " '" + name + "': rank " +
                                            std::to_string(extents.size()) + " (1 to " +
                                            std::to_string(MPISNAP_MAX_RANK) + " are possible)");
    e.dims = row_major(extents, order, std::string(call) + " '" + name + "'");
  }
  std::size_t n = 1;
  for (std::size_t d : e.dims) n *= d;
  if (!data && n != 0)
    throw CodedError(MPISNAP_ERR_ARG, std::string("mpisnap: ") + call + " '" + name + "': data is NULL");
  for (Entry& old : entries_)
    if (old.name == e.name) {
      old = std::move(e);
      return;
    }
  entries_.push_back(std::move(e));
}

std::size_t Registry::rank_of(const char* name, const char* call) {
  const Entry& e = find(name, call);
  if (e.scalar)
    throw CodedError(MPISNAP_ERR_ARG, std::string("mpisnap: ") + call + ": '" + e.name + "' is one value, not an array");
  return e.dims.size();
}

void Registry::set_global(const char* name, const std::vector<std::int64_t>& offset,
                          const std::vector<std::int64_t>& extent) {
  Entry& e = find(name, "mpisnap_protect_global");
  if (e.scalar)
    throw CodedError(MPISNAP_ERR_ARG, "mpisnap: mpisnap_protect_global: '" + e.name + "' is one value, not an array");
  std::vector<std::size_t> off = row_major(offset, e.order, "mpisnap_protect_global '" + e.name + "'");
  std::vector<std::size_t> ext = row_major(extent, e.order, "mpisnap_protect_global '" + e.name + "'");
  // (array_view checks that the block fits; try it here so the error comes from this call)
  try {
    with_type(e.type, [&](auto zero) {
      using T = decltype(zero);
      array_view<T>(static_cast<T*>(e.data), e.dims).global(off, ext);
    });
  } catch (const CodedError&) {
    throw;
  } catch (const Error& x) {
    throw CodedError(MPISNAP_ERR_ARG, x.what());
  }
  e.global_offset = std::move(off);
  e.global_extent = std::move(ext);
}

void Registry::unprotect(const char* name) {
  Entry& e = find(name, "mpisnap_unprotect");
  entries_.erase(entries_.begin() + (&e - entries_.data()));
}

std::vector<std::int64_t> Registry::stored_shape(const Node& root, const char* name, int order) {
  check_name(name, "mpisnap_stored_shape");
  check_order(order, "mpisnap_stored_shape");
  const Node* state = nullptr;
  for (const Node& c : root.children)
    if (c.name == "state") state = &c;
  const Node* found = nullptr;
  if (state)
    for (const Node& c : state->children)
      if (c.name == name) found = &c;
  if (!found)
    throw CodedError(MPISNAP_ERR_NAME, std::string("mpisnap: mpisnap_stored_shape: the checkpoint holds no buffer named '") +
                                           name + "'");
  std::vector<std::int64_t> out;
  if (found->kind == Node::Kind::Array || found->kind == Node::Kind::Table) {
    if (found->shape.empty()) out.push_back(static_cast<std::int64_t>(found->count));
    for (std::uint64_t d : found->shape) out.push_back(static_cast<std::int64_t>(d));
  }
  if (order == MPISNAP_COLUMN_MAJOR) std::reverse(out.begin(), out.end());
  return out;  // (a Scalar, or a lone complex number's group: one value)
}

// Each buffer as one value or an array_view of its shape (saving: with its global place), by name.
template <class Archive>
void Registry::each(Archive& ar) const {
  for (const Entry& e : entries_)
    with_type(e.type, [&](auto zero) {
      using T = decltype(zero);
      T* p = static_cast<T*>(e.data);
      if (e.scalar) {
        ar(cereal::make_nvp(e.name.c_str(), *p));
        return;
      }
      array_view<T> v(p, e.dims);
      if (!e.global_offset.empty()) v.global(e.global_offset, e.global_extent);
      ar(cereal::make_nvp(e.name.c_str(), v));
    });
}

void Registry::save(TreeOutputArchive& ar) const { each(ar); }
void Registry::load(TreeInputArchive& ar) { each(ar); }

}  // namespace mpisnap::capi

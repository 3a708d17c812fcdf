// Small helpers to build and take apart tree nodes for the library's own records (file metadata,
// channel logs, counters, manifests), with exact type checks on the way back.
#pragma once

#include <cstring>
#include <string>
#include <vector>

#include <mpisnap/archive.hpp>
#include <mpisnap/error.hpp>
#include <mpisnap/tree.hpp>

namespace mpisnap::storage {

template <class T>
Node scalar_node(std::string name, T value) {
  Node n;
  n.name = std::move(name);
  n.kind = Node::Kind::Scalar;
  n.type = detail::scalar_type_of<T>();
  n.count = 1;
  n.data.resize(sizeof(T));
  std::memcpy(n.data.data(), &value, sizeof(T));
  return n;
}

template <class T>
Node array_node(std::string name, const T* values, std::size_t count) {
  Node n;
  n.name = std::move(name);
  n.kind = Node::Kind::Array;
  n.type = detail::scalar_type_of<T>();
  n.count = count;
  n.data.resize(count * sizeof(T));
  if (count) std::memcpy(n.data.data(), values, count * sizeof(T));
  return n;
}

template <class T>
Node array_node(std::string name, const std::vector<T>& values) {
  return array_node(std::move(name), values.data(), values.size());
}

inline Node group_node(std::string name) {
  Node n;
  n.name = std::move(name);
  n.kind = Node::Kind::Group;
  return n;
}

inline const Node& child(const Node& parent, const std::string& name, const std::string& where) {
  for (const Node& c : parent.children)
    if (c.name == name) return c;
  throw Error("mpisnap: " + where + " has no '" + name + "'");
}

inline bool has_child(const Node& parent, const std::string& name) {
  for (const Node& c : parent.children)
    if (c.name == name) return true;
  return false;
}

inline Node* find_child(Node& parent, const std::string& name) {
  for (Node& c : parent.children)
    if (c.name == name) return &c;
  return nullptr;
}

template <class T>
T scalar_value(const Node& parent, const std::string& name, const std::string& where) {
  const Node& n = child(parent, name, where);
  if (n.kind != Node::Kind::Scalar || n.type != detail::scalar_type_of<T>())
    throw Error("mpisnap: " + where + "/" + name + " has the wrong type");
  T v;
  std::memcpy(&v, n.data.data(), sizeof(T));
  return v;
}

template <class T>
std::vector<T> array_values(const Node& parent, const std::string& name, const std::string& where) {
  const Node& n = child(parent, name, where);
  if (n.kind != Node::Kind::Array || n.type != detail::scalar_type_of<T>())
    throw Error("mpisnap: " + where + "/" + name + " has the wrong type");
  std::vector<T> v(n.count);
  if (n.count) std::memcpy(v.data(), n.data.data(), n.count * sizeof(T));
  return v;
}

}  // namespace mpisnap::storage

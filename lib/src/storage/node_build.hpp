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

// A member of the library's own tables: every one 8 bytes wide (UInt64, Int64 or Float64).
struct Column {
  std::string name;
  ScalarType type = ScalarType::UInt64;
};

// One 8-byte cell of such a table, from the value it holds.
template <class T>
std::uint64_t cell(T value) {
  static_assert(sizeof(T) == sizeof(std::uint64_t), "a table cell is 8 bytes");
  std::uint64_t c;
  std::memcpy(&c, &value, sizeof c);
  return c;
}

// A table of `columns`, one record per row of `cells` (row-major, rows x columns cells): the
// library's own records of one kind, one dataset for all (each dataset costs HDF5 some 30 us to
// write and half that to read, whatever its size).
inline Node table_node(std::string name, const std::vector<Column>& columns, const std::vector<std::uint64_t>& cells) {
  Node n;
  n.name = std::move(name);
  n.kind = Node::Kind::Table;
  n.record_bytes = static_cast<std::uint32_t>(columns.size() * sizeof(std::uint64_t));
  for (std::size_t c = 0; c < columns.size(); ++c)
    n.fields.push_back(Field{columns[c].name, static_cast<std::uint32_t>(c * sizeof(std::uint64_t)), columns[c].type, 1});
  n.count = columns.empty() ? 0 : cells.size() / columns.size();
  n.data.resize(cells.size() * sizeof(std::uint64_t));
  if (!cells.empty()) std::memcpy(n.data.data(), cells.data(), n.data.size());
  return n;
}

inline Node u64_table_node(std::string name, const std::vector<std::string>& columns,
                           const std::vector<std::uint64_t>& cells) {
  std::vector<Column> cols;
  for (const std::string& c : columns) cols.push_back(Column{c, ScalarType::UInt64});
  return table_node(std::move(name), cols, cells);
}

// Column `column` of such a table (its member of that name, one 8-byte number of T's type; other
// members are ignored, so a later format may add some).
template <class T>
std::vector<T> table_column(const Node& table, const std::string& column, const std::string& where) {
  static_assert(sizeof(T) == sizeof(std::uint64_t), "a table cell is 8 bytes");
  if (table.kind != Node::Kind::Table)
    throw Error("mpisnap: " + where + "/" + table.name + " is not a table");
  if (table.data.size() != table.count * table.record_bytes)
    throw Error("mpisnap: " + where + "/" + table.name + ": its data is not " + std::to_string(table.count) + " records");
  for (const Field& f : table.fields) {
    if (f.name != column) continue;
    if (f.type != detail::scalar_type_of<T>() || f.count != 1 || f.offset + sizeof(T) > table.record_bytes)
      throw Error("mpisnap: " + where + "/" + table.name + ": member " + column + " is not one " +
                  to_string(detail::scalar_type_of<T>()) + " number");
    std::vector<T> v(table.count);
    for (std::uint64_t r = 0; r < table.count; ++r)
      std::memcpy(&v[r], table.data.data() + r * table.record_bytes + f.offset, sizeof(T));
    return v;
  }
  throw Error("mpisnap: " + where + "/" + table.name + " has no member " + column);
}

}  // namespace mpisnap::storage

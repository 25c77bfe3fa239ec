// Reflection for aggregates: member counts, types and references, member names and indexes, type names. Boost
// 1.81's PFR cannot name members, so this module reads names from __PRETTY_FUNCTION__ the way newer PFR does; it
// is the only place that does, so that boost::pfr::get_name (Boost 1.84) can replace it in one file. It counts and
// ties members itself up to 64 of them (Boost.PFR beyond): PFR 1.81 counts by a search up to sizeof(T) * 8
// members, about 50 ms of a user's build per table, where counting up costs a few ms (benchmarks/compile_time).
module;
#include <array>
#include <boost/pfr.hpp>
#include <cstddef>
#include <memory>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
export module keel.reflection;

#include "reflection_tie.inc"

namespace keel::reflection_detail {

// Converts to any member's type, so that T{AnyField{}...} compiles with as many of them as T has members, and no
// more. It appears in unevaluated checks alone, and is never called; it has a body all the same, since checking
// the initialization instantiates the members' constexpr constructors, which use it.
struct AnyField {
  template <class U>
  operator U() const noexcept {
    __builtin_unreachable();
  }
};

template <class T, std::size_t... I>
consteval bool takes_initializers(std::index_sequence<I...>) {
  return requires { T{(static_cast<void>(I), AnyField{})...}; };
}

// The number of T's members: one fewer than the first count of initializers T refuses. An empty struct takes one,
// converted to itself, and has none.
template <class T, std::size_t N = 0>
consteval std::size_t count_fields() {
  if constexpr (std::is_empty_v<T>)
    return 0;
  else if constexpr (takes_initializers<T>(std::make_index_sequence<N + 1>{}))
    return count_fields<T, N + 1>();
  else
    return N;
}

template <class T>
inline constexpr std::size_t field_count = count_fields<T>();

// T's members as a tuple of references.
template <class T>
constexpr auto tie(T& object) noexcept {
  if constexpr (field_count<std::remove_cv_t<T>> <= max_tied_fields)
    return tie_fields<field_count<std::remove_cv_t<T>>>(object);
  else
    return boost::pfr::structure_tie(object);
}

template <class T>
using tie_t = decltype(tie(std::declval<T&>()));

template <class T>
struct Wrapper {
  const T value;
};

// Declared, never defined: only the addresses of its members are used, in constant expressions.
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wundefined-var-template"
#pragma clang diagnostic ignored "-Wundefined-internal"
template <class T>
extern const Wrapper<T> fake_object;

template <class T, std::size_t I>
consteval const auto* field_address() {
  return std::addressof(std::get<I>(tie(fake_object<T>.value)));
}
#pragma clang diagnostic pop

// A pointer wrapped in a class, so that it can be a template argument and show up in the function's name.
template <class P>
struct PointerHolder {
  P pointer;
};

template <auto Holder>
consteval std::string_view signature_with_field() {
  return __PRETTY_FUNCTION__;
}

template <class T>
consteval std::string_view signature_with_type() {
  return __PRETTY_FUNCTION__;
}

// "... [Holder = PointerHolder<const long *>{&fake_object.value.popularity}]" -> "popularity"
consteval std::string_view field_name_from_signature(std::string_view signature) {
  const std::size_t end = signature.rfind('}');
  std::size_t begin = end;
  while (begin > 0) {
    const char c = signature[begin - 1];
    if (c == '.' || c == '>' || c == ':' || c == '&' || c == '{' || c == ' ') break;
    --begin;
  }
  return signature.substr(begin, end - begin);
}

// "... [T = ns::Outer::BandMember]" -> "BandMember"; template arguments are dropped.
consteval std::string_view type_name_from_signature(std::string_view signature) {
  const std::size_t begin_of_type = signature.find("T = ") + 4;
  std::size_t end = signature.size() - 1;  // the closing ']'
  std::string_view type = signature.substr(begin_of_type, end - begin_of_type);
  if (const auto angle = type.find('<'); angle != std::string_view::npos) type = type.substr(0, angle);
  if (const auto colons = type.rfind("::"); colons != std::string_view::npos) type = type.substr(colons + 2);
  return type;
}

template <class T, std::size_t I>
inline constexpr std::string_view field_name_v =
    field_name_from_signature(signature_with_field<PointerHolder<const void*>{field_address<T, I>()}>());

template <class T, std::size_t... I>
consteval auto field_names(std::index_sequence<I...>) {
  return std::array<std::string_view, sizeof...(I)>{field_name_v<T, I>...};
}

template <class T, auto Member, std::size_t... I>
consteval std::size_t index_of_member(std::index_sequence<I...>) {
  const void* const target = std::addressof(fake_object<T>.value.*Member);
  std::size_t index = sizeof...(I);
  (void)((static_cast<const void*>(field_address<T, I>()) == target ? (index = I, true) : false) || ...);
  return index;
}

template <class M>
struct member_pointer_traits;
template <class C, class M>
struct member_pointer_traits<M C::*> {
  using class_type = C;
  using member_type = M;
};

}  // namespace keel::reflection_detail

export namespace keel::reflection {

/// Whether T can be reflected: an aggregate class.
template <class T>
concept Reflectable = std::is_aggregate_v<T> && std::is_class_v<T>;

/// The number of T's members.
template <class T>
inline constexpr std::size_t field_count = reflection_detail::field_count<T>;

/// The type of T's member I.
template <class T, std::size_t I>
using field_type = std::remove_reference_t<std::tuple_element_t<I, reflection_detail::tie_t<T>>>;

/// The names of T's members, in declaration order.
template <class T>
inline constexpr std::array<std::string_view, field_count<T>> field_names =
    reflection_detail::field_names<T>(std::make_index_sequence<field_count<T>>{});

/// The name of T's member I.
template <class T, std::size_t I>
inline constexpr std::string_view field_name = field_names<T>[I];

/// The unqualified name of a class, without template arguments: "BandMember".
template <class T>
inline constexpr std::string_view type_name =
    reflection_detail::type_name_from_signature(reflection_detail::signature_with_type<T>());

/// The class of a data member pointer.
template <auto Member>
using member_class_t = typename reflection_detail::member_pointer_traits<decltype(Member)>::class_type;
/// The type of a data member pointer's member.
template <auto Member>
using member_type_t = typename reflection_detail::member_pointer_traits<decltype(Member)>::member_type;

/// The field index of a data member pointer (&Band::name -> 1).
template <auto Member>
inline constexpr std::size_t member_index = reflection_detail::index_of_member<member_class_t<Member>, Member>(
    std::make_index_sequence<field_count<member_class_t<Member>>>{});

/// T's member I, by reference.
template <std::size_t I, class T>
constexpr decltype(auto) get(T& object) {
  return std::get<I>(reflection_detail::tie(object));
}

}  // namespace keel::reflection

// SELECT, COUNT and EXISTS, with joins along foreign keys or on a condition, grouping and aggregates.
//   keel::select<Band>().where(c<&Band::popularity> > 1000).order_by(c<&Band::name>)   -> std::vector<Band>
//   keel::select(c<&Band::name>, c<&Manager::name>).join<&Band::manager>()            -> std::vector<std::tuple<...>>
//   keel::select(c<&Band::name>, c<&Concert::venue>).join<Concert>(c<&Concert::band> == c<&Band::id>)
//   keel::select(c<&Band::name>, c<&Manager::name>).join<&Band::manager>().into<BandAndManager>() ->
//   std::vector<BandAndManager> keel::count<Band>().where(...)                                                     ->
//   std::int64_t keel::exists<Band>().where(...)                                                    -> bool
module;
#include <concepts>
#include <cstddef>
#include <limits>
#include <cstdint>
#include <optional>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>
export module keel.orm:select;
import keel.engine;
import keel.reflection;
import :column;
import :expression;
import :projection;
import :query_support;
import :sql_writer;
import :table;
import :text_cache;

export namespace keel {

// ---- What a SELECT produces besides :projection's rows.
struct CountRows {
  using tables = type_list<>;
};
struct ExistsRows {
  using tables = type_list<>;
};

// Writes a table as FROM and JOIN name it: "employee", or "employee" AS "boss" for an alias.
template <class S>
void write_table_reference(SqlWriter& w) {
  w.identifier(table_traits<typename query_table<S>::table>::name);
  if constexpr (query_table<S>::aliased) {
    w.sql(" AS ");
    w.identifier(query_table<S>::name);
  }
}

// A join along a foreign-key member: it brings in `Joined`, the table the key refers to (or an alias of it), or,
// when that table is already in the query, the table that holds the key (select from Manager,
// join<&Band::manager>() the bands).
template <auto Member, bool Left, bool Reverse, class Joined>
struct ForeignKeyJoin {
  using source = reflection::member_class_t<Member>;
  using target = typename column_traits<reflection::member_type_t<Member>>::target_table;
  using joined = Joined;
  using tables = type_list<>;  // the tables its ON reads besides the joined one: a table of the query
  static constexpr bool left = Left;
  static constexpr TextShape shape{};

  // [LEFT] JOIN "manager" ON "manager"."id" = "band"."manager"
  void write(SqlWriter& w) const {
    using Target = table_traits<target>;
    static_assert(Target::has_primary_key, "keel: a joined table needs a primary key");
    w.sql(Left ? " LEFT JOIN " : " JOIN ");
    write_table_reference<Joined>(w);
    w.sql(" ON ");
    w.column(Reverse ? Target::name : query_table<Joined>::name, Target::column_names[Target::primary_key]);
    w.sql(" = ");
    w.column(Reverse ? query_table<Joined>::name : table_traits<source>::name, member_column<Member>::name);
  }
};

// A join on a condition: [LEFT] JOIN "employee" AS "boss" ON <condition>.
template <class Joined, bool Left, class Condition>
struct ConditionJoin {
  using joined = Joined;
  using tables = typename Condition::tables;
  static constexpr bool left = Left;
  static constexpr TextShape shape = Condition::shape;
  Condition on;  ///< the condition that pairs rows

  void write(SqlWriter& w) const {
    w.sql(Left ? " LEFT JOIN " : " JOIN ");
    write_table_reference<Joined>(w);
    w.sql(" ON ");
    on.write(w);
  }
};

template <class Joins>
struct join_targets;
template <class... J>
struct join_targets<std::tuple<J...>> {
  using all = type_list<typename J::joined...>;
  using nullable = concat_t<std::conditional_t<J::left, type_list<typename J::joined>, type_list<>>...>;
  using referenced = concat_t<typename J::tables...>;
};

// Whether two names are one to the database: SQLite matches names without regard to ASCII case, quoted or not.
consteval bool same_name(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const char x = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] - 'A' + 'a') : a[i];
    const char y = b[i] >= 'A' && b[i] <= 'Z' ? static_cast<char>(b[i] - 'A' + 'a') : b[i];
    if (x != y) return false;
  }
  return true;
}
// Whether one of `Tables` (tables or aliases) goes by `name` in the query.
template <class... S>
consteval bool names_a_table(std::string_view name, type_list<S...>) {
  return (same_name(query_table<S>::name, name) || ...);
}
template <class... S, class Tables>
consteval bool any_name_in(type_list<S...>, Tables tables) {
  return (names_a_table(query_table<S>::name, tables) || ...);
}

/// The rows a select locks until its transaction ends (FOR UPDATE, FOR SHARE).
enum class RowLock { none, update, share };
/// What a row lock does with a row that another transaction has locked.
enum class LockWait {
  wait,         ///< waits for it
  nowait,       ///< fails: keel::LockNotAvailable (SQLSTATE 55P03)
  skip_locked,  ///< leaves it out
};

struct SelectFlags {
  bool distinct = false;
  bool limit = false;
  bool offset = false;
  bool first = false;
  RowLock lock = RowLock::none;
  LockWait wait = LockWait::wait;
};

// Whether a projection lists an aggregate (count, sum, ...), alone or inside an expression (max(x) + 1), which a
// row lock cannot go with.
template <class P>
inline constexpr bool selects_aggregate = false;
template <class... E>
inline constexpr bool selects_aggregate<Columns<E...>> = (contains_aggregate_v<E> || ...);
template <class T, class P>
inline constexpr bool selects_aggregate<Into<T, P>> = selects_aggregate<P>;

// Flags with one change: with_flags<Flags>([](SelectFlags& f) { f.limit = true; }).
template <SelectFlags Flags, class Change>
consteval SelectFlags with_flags(Change change) {
  SelectFlags flags = Flags;
  change(flags);
  return flags;
}

// A single value from the first row: count(*) and EXISTS.
template <class V>
class ScalarCollector final : public RowSink {
public:
  using result_type = V;
  void on_row(const RowReader& row) override {
    if (!value_) value_ = decode_cell<V>(row.cell(0), CellOrigin{0, row.name(0)});
  }
  std::size_t max_rows() const noexcept override { return 1; }
  V result(const ExecResult&) {
    if (!value_) throw ProtocolError("the engine returned no row for a count or exists query");
    return *value_;
  }

private:
  std::optional<V> value_;
};

/// GROUP BY keys (a tuple of expressions, maybe empty) and the HAVING condition on the groups (NoWhere: none).
template <class Keys, class Having>
struct Grouping {
  static constexpr bool grouped = std::tuple_size_v<Keys> > 0;  ///< whether there is a GROUP BY
  static constexpr TextShape shape = tuple_shape_v<Keys> + Having::shape;
  using tables = concat_t<tuple_tables_t<Keys>, typename Having::tables>;  ///< the tables its keys and HAVING read
  Keys keys{};                                                             ///< GROUP BY's expressions
  Having having{};                                                         ///< the groups kept
  /// Writes GROUP BY ... [HAVING ...], or nothing.
  void write(SqlWriter& w) const {
    if constexpr (grouped) {
      w.sql(" GROUP BY ");
      write_expression_list(w, keys);
    }
    if constexpr (!std::same_as<Having, NoWhere>) {
      w.sql(" HAVING ");
      having.write(w);
    }
  }
};
/// No GROUP BY.
using NoGrouping = Grouping<std::tuple<>, NoWhere>;

/// Writes LIMIT and OFFSET as the flags say, each value bound; LIMIT 1 of first() is part of the text.
template <SelectFlags Flags>
void write_limit_and_offset(SqlWriter& w, std::int64_t limit, std::int64_t offset) {
  if constexpr (Flags.first) {
    w.sql(" LIMIT 1");  // part of the query's shape, like its columns: no value to bind
  } else if constexpr (Flags.limit) {
    w.sql(" LIMIT ");
    w.param(limit);
  } else if constexpr (Flags.offset) {
    if (const std::string_view all = w.dialect()->limit_all; !all.empty()) {  // SQLite has no OFFSET alone
      w.sql(" LIMIT ");
      w.sql(all);
    }
  }
  if constexpr (Flags.offset) {
    w.sql(" OFFSET ");
    w.param(offset);
  }
}

template <class Projection, class From, class Joins, class Where, class Order, class Group, SelectFlags Flags>
class Select;

template <class T>
struct is_select : std::false_type {};
template <class P, class F, class J, class W, class O, class G, SelectFlags S>
struct is_select<Select<P, F, J, W, O, G, S>> : std::true_type {};

/// A SELECT (or a count or EXISTS), built up by its methods: each call returns a new query, whose type records
/// the new shape. Run it with run(), run(engine) or their sync forms.
template <class Projection, class From, class Joins, class Where, class Order, class Group, SelectFlags Flags>
class Select : public Runnable<Select<Projection, From, Joins, Where, Order, Group, Flags>> {
public:
  /// The tables it reads: FROM's, then the joined ones (table structs, or aliases).
  using tables = concat_t<type_list<From>, typename join_targets<Joins>::all>;
  /// The LEFT JOINed tables, whose columns decode into std::optional.
  using nullable_tables = typename join_targets<Joins>::nullable;
  /// The tables of the query around it that it reads through keel::outer: none, unless it is a correlated
  /// subquery.
  using outer_tables =
      outer_tables_t<concat_t<typename Projection::tables, typename Where::tables, typename Group::tables,
                              tuple_tables_t<Order>, typename join_targets<Joins>::referenced>>;
  /// Whether it names a table of its own as a query around it names one it reads through keel::outer (one level
  /// out or more), so that the outer column would read its own table instead.
  static constexpr bool shadows_outer = any_name_in(typename strip_all_outer<outer_tables>::type{}, tables{});
  /// What a row decodes into: the struct, a tuple of the chosen expressions, one value, or the count or EXISTS.
  using element_type = typename decltype([] {
    if constexpr (std::same_as<Projection, CountRows>)
      return std::type_identity<std::int64_t>{};
    else if constexpr (std::same_as<Projection, ExistsRows>)
      return std::type_identity<bool>{};
    else
      return std::type_identity<typename projection_element<Projection, nullable_tables>::type>{};
  }())::type;
  /// Whether it selects whole rows of its FROM table, decoded into the table's struct.
  static constexpr bool whole_rows = std::same_as<Projection, WholeRows<From>>;
  /// Whether a row decodes member by member into a struct: whole rows, or chosen columns after into<T>().
  static constexpr bool decodes_members = whole_rows || is_into<Projection>::value;
  /// Whether it is count<T>() or exists<T>(), which give one value.
  static constexpr bool scalar = std::same_as<Projection, CountRows> || std::same_as<Projection, ExistsRows>;
  /// Its batches run in a read-only transaction, unless it locks rows (which PostgreSQL refuses there).
  static constexpr bool read_only = Flags.lock == RowLock::none;
  /// What it selects: WholeRows<T>, Columns<E...>, or the count or EXISTS.
  using projection_type = Projection;
  /// Whether it can be a part of a union, intersect or except: no ORDER BY, LIMIT, OFFSET or row lock.
  static constexpr bool combinable =
      std::tuple_size_v<Order> == 0 && !Flags.limit && !Flags.offset && Flags.lock == RowLock::none;
  using keel_subquery_tag = void;  ///< it can stand inside another query (in(), keel::scalar, keel::exists)
  /// Whether every selected column is of a table in the query (statement() insists; so does a subquery's use).
  static constexpr bool complete = is_subset_v<own_tables_t<typename Projection::tables>, tables>;
  /// How many columns a row has.
  static constexpr std::size_t width = [] {
    if constexpr (std::same_as<Projection, WholeRows<From>>)
      return table_traits<typename query_table<From>::table>::column_count;
    else if constexpr (scalar)
      return std::size_t{1};
    else
      return std::tuple_size_v<decltype(Projection::expressions)>;
  }();
  /// What running it gives: a std::vector of elements, a std::optional after first(), or the count or EXISTS.
  using result_type = std::conditional_t<scalar, element_type, select_result_t<element_type, Flags.first>>;
  /// What its text depends on besides its type (see TextShape).
  static constexpr TextShape shape =
      projection_shape<Projection> + tuple_shape_v<Joins> + Where::shape + Group::shape + tuple_shape_v<Order>;

  /// A query with no condition, order, grouping or limit.
  Select() = default;
  /// A query of these parts: the select functions and the methods below make them.
  Select(Projection projection, Joins joins, Where where, Order order, Group group, std::int64_t limit,
         std::int64_t offset)
      : projection_(std::move(projection)),
        joins_(std::move(joins)),
        where_(std::move(where)),
        order_(std::move(order)),
        group_(std::move(group)),
        limit_(limit),
        offset_(offset) {}

  // ---- Building: each call returns a new query, whose type records the new shape.

  /// Rows for which the condition holds. Called again, it adds a condition with AND.
  template <class E>
  auto where(const E& condition) const {
    check_tables<E>();
    auto combined = and_where(where_, condition);
    return Select<Projection, From, Joins, decltype(combined), Order, Group, Flags>(projection_, joins_, combined,
                                                                                    order_, group_, limit_, offset_);
  }

  /// Sort by columns or expressions, ascending unless given as .desc().
  template <class... Terms>
  auto order_by(const Terms&... terms) const {
    (check_tables<Terms>(), ...);
    auto order = std::tuple_cat(order_, std::tuple(as_ordering(terms)...));
    return Select<Projection, From, Joins, Where, decltype(order), Group, Flags>(projection_, joins_, where_, order,
                                                                                 group_, limit_, offset_);
  }

  /// GROUP BY these expressions; called again, it adds more.
  template <class... E>
  auto group_by(const E&... expressions) const {
    static_assert((Expression<E> && ...), "keel: group_by takes columns or expressions");
    static_assert(!scalar, "keel: group_by() applies to select queries; count<T>() and exists<T>() give one value");
    static_assert(Flags.lock == RowLock::none, "keel: a select that locks its rows cannot be grouped");
    (check_tables<E>(), ...);
    auto keys = std::tuple_cat(group_.keys, std::tuple(expressions...));
    using G = Grouping<decltype(keys), decltype(group_.having)>;
    return Select<Projection, From, Joins, Where, Order, G, Flags>(projection_, joins_, where_, order_,
                                                                   G{keys, group_.having}, limit_, offset_);
  }

  /// HAVING: the groups for which the condition holds, which may use aggregates (keel::count_all() > 1). After
  /// group_by(); called again, it adds a condition with AND.
  template <class E>
  auto having(const E& condition) const {
    static_assert(!scalar, "keel: having() applies to select queries; count<T>() and exists<T>() give one value");
    static_assert(Group::grouped, "keel: having() keeps some groups: call group_by(...) before it");
    check_tables<E>();
    auto combined = and_where(group_.having, condition);
    using G = Grouping<decltype(group_.keys), decltype(combined)>;
    return Select<Projection, From, Joins, Where, Order, G, Flags>(projection_, joins_, where_, order_,
                                                                   G{group_.keys, combined}, limit_, offset_);
  }

  /// LIMIT `count` rows, bound as a value.
  auto limit(std::int64_t count) const {
    static_assert(!scalar, "keel: limit() applies to select queries");
    static_assert(!Flags.first, "keel: first() already limits the query to one row; call limit() before first()");
    constexpr SelectFlags flags = with_flags<Flags>([](SelectFlags& f) { f.limit = true; });
    return Select<Projection, From, Joins, Where, Order, Group, flags>(projection_, joins_, where_, order_, group_,
                                                                       count, offset_);
  }
  /// OFFSET: skips `count` rows, bound as a value.
  auto offset(std::int64_t count) const {
    static_assert(!scalar, "keel: offset() applies to select queries");
    constexpr SelectFlags flags = with_flags<Flags>([](SelectFlags& f) { f.offset = true; });
    return Select<Projection, From, Joins, Where, Order, Group, flags>(projection_, joins_, where_, order_, group_,
                                                                       limit_, count);
  }
  /// SELECT DISTINCT.
  auto distinct() const {
    static_assert(!scalar, "keel: distinct() applies to select queries");
    static_assert(Flags.lock == RowLock::none, "keel: a select that locks its rows cannot be distinct()");
    constexpr SelectFlags flags = with_flags<Flags>([](SelectFlags& f) { f.distinct = true; });
    return Select<Projection, From, Joins, Where, Order, Group, flags>(projection_, joins_, where_, order_, group_,
                                                                       limit_, offset_);
  }
  /// The first row, or std::nullopt: LIMIT 1.
  auto first() const {
    static_assert(!scalar, "keel: first() applies to select queries");
    constexpr SelectFlags flags = with_flags<Flags>([](SelectFlags& f) { f.limit = f.first = true; });
    return Select<Projection, From, Joins, Where, Order, Group, flags>(projection_, joins_, where_, order_, group_, 1,
                                                                       offset_);
  }

  /// FOR UPDATE: locks the rows it reads until the transaction ends, so that no other transaction changes,
  /// deletes or locks them meanwhile; of a LEFT JOIN, the rows of the tables on its left only. Where the
  /// dialect locks no rows (SQLite, whose write transactions hold the whole database) it is left out.
  auto for_update() const { return with_lock<RowLock::update>(); }
  /// FOR SHARE: locks the rows it reads against changes until the transaction ends; others may share the lock.
  auto for_share() const { return with_lock<RowLock::share>(); }
  /// NOWAIT, after for_update() or for_share(): a row that another transaction has locked fails the query
  /// (keel::LockNotAvailable) instead of waiting.
  auto nowait() const { return with_lock_wait<LockWait::nowait>(); }
  /// SKIP LOCKED, after for_update() or for_share(): rows that another transaction has locked are left out,
  /// as a work queue's consumers want.
  auto skip_locked() const { return with_lock_wait<LockWait::skip_locked>(); }

  /// Each row into struct T instead of a tuple: T has one member per selected column, in their order, each of a
  /// type that holds its column's SQL type, and std::optional where the column can be NULL (a nullable column,
  /// or one of a left-joined table). A misfit is a compile error.
  template <class T>
  auto into() const {
    static_assert(
        requires { projection_.expressions; } && !is_into<Projection>::value && !scalar,
        "keel: into<T>() decodes chosen columns: keel::select(c<&A::x>, c<&B::y>).into<T>()");
    check_into<T>();
    using P = Into<T, Projection>;
    return Select<P, From, Joins, Where, Order, Group, Flags>(P{projection_.expressions}, joins_, where_, order_,
                                                              group_, limit_, offset_);
  }

  /// JOIN the table that a foreign-key member of a table in the query refers to, or, when that table is in the
  /// query, the table that holds the key. Given an alias (keel::Alias) of one of those, it joins the alias:
  /// join<&Employee::manager, Boss>() pairs each employee with their manager, Boss.
  template <auto Member, class Joined = void>
  auto join() const {
    return add_key_join<Member, false, Joined>();
  }
  /// LEFT JOIN along a foreign-key member: the joined table's columns decode into std::optional.
  template <auto Member, class Joined = void>
  auto left_join() const {
    return add_key_join<Member, true, Joined>();
  }
  /// JOIN table (or alias) S on a condition over S and the query's tables:
  /// join<Concert>(c<&Concert::band> == c<&Band::id> && c<&Concert::price> < 50).
  template <class S, class Condition>
  auto join(const Condition& on) const {
    return add_condition_join<S, false>(on);
  }
  /// LEFT JOIN table (or alias) S on a condition: S's columns decode into std::optional.
  template <class S, class Condition>
  auto left_join(const Condition& on) const {
    return add_condition_join<S, true>(on);
  }

  // ---- Running: the Query interface.
  /// The statement in `dialect`; its text is rendered once per shape and dialect, and shared.
  Statement statement(Dialect dialect) const {
    static_assert(complete, "keel: the query selects a column of a table that is not in the query; join that table");
    check_decoding();
    static_assert(std::same_as<outer_tables, type_list<>>,
                  "keel::outer(...) names a column of the query around a subquery; this query is not inside one");
    return make_statement(*this, dialect);
  }
  /// After into<T>(), checks T against the query as it is now: a join after into() may make a column nullable.
  /// statement() and unions call it.
  static constexpr void check_decoding() {
    if constexpr (is_into<Projection>::value) check_into<element_type>();
  }
  /// Decodes the rows into the result.
  auto collector() const {
    if constexpr (scalar)
      return ScalarCollector<element_type>();
    else
      return SelectCollector<decodes_members, element_type, Flags.first>();
  }

  /// Writes the SQL text and binds the values.
  void write(SqlWriter& w) const {
    w.set_qualify_columns(true);
    if constexpr (std::same_as<Projection, ExistsRows>) {
      w.sql("SELECT EXISTS (SELECT 1");
      write_from(w);
      write_where(w, where_);
      w.sql(")");
      return;
    } else {
      w.sql(Flags.distinct ? "SELECT DISTINCT " : "SELECT ");
      write_projection(w);
      write_from(w);
      write_where(w, where_);
      group_.write(w);
      if constexpr (std::tuple_size_v<Order> > 0) {
        w.sql(" ORDER BY ");
        write_expression_list(w, order_);
      }
      write_limit_and_offset<Flags>(w, limit_, offset_);
      if constexpr (Flags.lock != RowLock::none) write_lock(w);
    }
  }

private:
  template <class E>
  static constexpr void check_tables() {
    static_assert(is_subset_v<own_tables_t<typename E::tables>, tables>,
                  "keel: the expression uses a column of a table that is not in the query; join that table");
  }

  template <class T>
  static constexpr void check_into() {
    static_assert(reflection::Reflectable<T>,
                  "keel: into<T>() takes an aggregate struct with one member per selected column");
    static_assert(reflection::field_count<T> == width,
                  "keel: into<T>(): the struct has one member per selected column, in their order");
    (void)sizeof(table_traits<T>);  // its members must be column types; rows decode as a table's do
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (check_into_member<T, I>(), ...);
    }(std::make_index_sequence<width>{});
  }
  template <class T, std::size_t I>
  static constexpr void check_into_member() {
    using E = std::tuple_element_t<I, decltype(Projection::expressions)>;
    using Member = column_traits<reflection::field_type<T, I>>;
    static_assert(!decoded<E, nullable_tables>::nullable || Member::nullable,
                  "keel: into<T>(): a selected column that can be NULL (a nullable column, or one of a left-joined "
                  "table) goes into a std::optional member");
    static_assert(reads_into(category_v<typename Member::value_type>, category_v<typename E::value_type>) &&
                      same_enum_if_any<typename Member::value_type, typename E::value_type>,
                  "keel: into<T>(): a member's type cannot hold its column's SQL type");
    static_assert(!std::same_as<typename Member::value_type, float> || std::same_as<typename E::value_type, float>,
                  "keel: into<T>(): a float member would round a double column; make it double");
    if constexpr (category_v<typename Member::value_type> == SqlCategory::array)
      static_assert(reads_into(category_v<typename Member::value_type::value_type>,
                               category_v<typename E::value_type::value_type>),
                    "keel: into<T>(): an array member's elements cannot hold its column's elements");
  }
  // Whether a member of category `member` reads a cell of a column of category `column`: the same category, or a
  // floating-point member of an integer column (an integer member refuses a floating-point cell).
  static constexpr bool reads_into(SqlCategory member, SqlCategory column) {
    return member == column || (member == SqlCategory::real && column == SqlCategory::integer);
  }

  template <RowLock Lock>
  auto with_lock() const {
    static_assert(!scalar, "keel: for_update() and for_share() apply to select queries, not count<T>() or exists<T>()");
    static_assert(Flags.lock == RowLock::none, "keel: this select already locks its rows");
    static_assert(!Flags.distinct, "keel: a distinct() select cannot lock its rows");
    static_assert(!Group::grouped, "keel: a grouped select cannot lock its rows");
    static_assert(!selects_aggregate<Projection>,
                  "keel: a select that lists an aggregate, alone or inside an expression, cannot lock its rows");
    constexpr SelectFlags flags = with_flags<Flags>([](SelectFlags& f) { f.lock = Lock; });
    return Select<Projection, From, Joins, Where, Order, Group, flags>(projection_, joins_, where_, order_, group_,
                                                                       limit_, offset_);
  }
  template <LockWait Wait>
  auto with_lock_wait() const {
    static_assert(Flags.lock != RowLock::none,
                  "keel: nowait() and skip_locked() come after for_update() or for_share()");
    constexpr SelectFlags flags = with_flags<Flags>([](SelectFlags& f) { f.wait = Wait; });
    return Select<Projection, From, Joins, Where, Order, Group, flags>(projection_, joins_, where_, order_, group_,
                                                                       limit_, offset_);
  }
  // FOR UPDATE [OF "t", ...] [NOWAIT | SKIP LOCKED]. PostgreSQL cannot lock the nullable side of an outer join,
  // so a query with a LEFT JOIN names the tables it locks: FROM's and the inner joins'.
  void write_lock(SqlWriter& w) const {
    if (!w.dialect()->locks_selected_rows) return;
    w.sql(Flags.lock == RowLock::update ? " FOR UPDATE" : " FOR SHARE");
    if constexpr (!std::same_as<nullable_tables, type_list<>>) {
      w.sql(" OF ");
      w.identifier(query_table<From>::name);
      write_locked_joins(w, tables{});
    }
    if constexpr (Flags.wait == LockWait::nowait)
      w.sql(" NOWAIT");
    else if constexpr (Flags.wait == LockWait::skip_locked)
      w.sql(" SKIP LOCKED");
  }
  // The joined tables (after FROM's, which the caller writes), but the LEFT JOINed ones.
  template <class First, class... S>
  static void write_locked_joins(SqlWriter& w, type_list<First, S...>) {
    ((list_contains<S, nullable_tables>::value ? void() : (w.sql(", "), w.identifier(query_table<S>::name))), ...);
  }

  template <auto Member, bool Left, class Joined>
  auto add_key_join() const {
    using Key = column_traits<reflection::member_type_t<Member>>;
    static_assert(Key::is_foreign_key, "keel: join<&T::member>() follows a keel::ForeignKey member");
    using Source = reflection::member_class_t<Member>;
    using Target = typename Key::target_table;
    constexpr bool has_source = list_contains<Source, tables>::value;
    constexpr bool has_target = list_contains<Target, tables>::value;
    if constexpr (std::same_as<Joined, void>) {
      static_assert(has_source || has_target,
                    "keel: join<&T::member>() joins a table of the query to another: neither T nor the table its "
                    "foreign key refers to is in the query yet");
      static_assert(!(has_source && has_target),
                    "keel: both tables of this join are already in the query; join an alias of one "
                    "(join<&T::member, keel::Alias<U, \"name\">>()), or join on a condition");
      using J = ForeignKeyJoin<Member, Left, !has_source, std::conditional_t<has_source, Target, Source>>;
      return with_join(J{});
    } else {
      using Aliased = typename query_table<Joined>::table;
      constexpr bool forward = std::same_as<Aliased, Target> && has_source;
      constexpr bool reverse = std::same_as<Aliased, Source> && has_target;
      static_assert(forward || reverse,
                    "keel: join<&T::member, A>() joins A, an alias of the table the key refers to, with T in the "
                    "query (or an alias of T, with the table the key refers to in the query)");
      return with_join(ForeignKeyJoin<Member, Left, !forward, Joined>{});
    }
  }

  template <class S, bool Left, class Condition>
  auto add_condition_join(const Condition& on) const {
    static_assert(TableAlias<S> || Table<S>, "keel: join<S>(condition) takes a table struct or an alias (keel::Alias)");
    static_assert(Expression<Condition> && category_v<typename Condition::value_type> == SqlCategory::boolean,
                  "keel: join<S>(condition) takes a condition, such as c<&Concert::band> == c<&Band::id>");
    static_assert(is_subset_v<own_tables_t<typename Condition::tables>, concat_t<tables, type_list<S>>>,
                  "keel: the join's condition uses a column of a table that is neither joined nor in the query");
    return with_join(ConditionJoin<S, Left, Condition>{on});
  }

  template <class J>
  auto with_join(const J& join) const {
    static_assert(!names_a_table(query_table<typename J::joined>::name, tables{}),
                  "keel: the query already reads a table of this name; join an alias of it: keel::Alias<T, \"name\">");
    auto joins = std::tuple_cat(joins_, std::tuple(join));
    return Select<Projection, From, decltype(joins), Where, Order, Group, Flags>(projection_, joins, where_, order_,
                                                                                 group_, limit_, offset_);
  }

  void write_projection(SqlWriter& w) const {
    if constexpr (std::same_as<Projection, CountRows>)
      w.sql("count(*)");
    else if constexpr (std::same_as<Projection, WholeRows<From>>)
      write_table_columns<typename query_table<From>::table>(w, query_table<From>::name);
    else
      write_expression_list(w, projection_.expressions);
  }

  void write_from(SqlWriter& w) const {
    w.sql(" FROM ");
    write_table_reference<From>(w);
    std::apply([&](const auto&... join) { (join.write(w), ...); }, joins_);
  }

  Projection projection_{};
  Joins joins_{};
  Where where_{};
  Order order_{};
  Group group_{};
  std::int64_t limit_ = 0;
  std::int64_t offset_ = 0;
};

template <class Projection, class From>
using SelectOf = Select<Projection, From, std::tuple<>, NoWhere, std::tuple<>, NoGrouping, SelectFlags{}>;

/// Whole rows of T, or of the table an alias of it names (keel::Alias), decoded into the table's struct.
template <class T>
auto select() {
  (void)sizeof(table_traits<typename query_table<T>::table>);
  return SelectOf<WholeRows<T>, T>();
}

/// Chosen columns and expressions; the query reads from the table of the first column, and other tables come in
/// through join<&T::foreign_key>().
template <class E1, class... E>
auto select(const E1& first, const E&... rest) {
  static_assert(Expression<E1> && (Expression<E> && ...), "keel::select takes columns and expressions");
  using AllTables = own_tables_t<concat_t<typename E1::tables, typename E::tables...>>;  // keel::outer's are not FROM
  static_assert(!std::same_as<AllTables, type_list<>>,
                "keel::select needs at least one column, to know the table; use keel::select<T>(...) otherwise");
  using From = typename first_of<AllTables>::type;
  using P = Columns<E1, E...>;
  return SelectOf<P, From>(P{std::tuple(first, rest...)}, {}, {}, {}, {}, 0, 0);
}

/// Chosen expressions from table T, for expressions that name no column: keel::select<Band>(keel::count_all()).
template <class T, class E1, class... E>
auto select(const E1& first, const E&... rest) {
  static_assert(Expression<E1> && (Expression<E> && ...), "keel::select takes columns and expressions");
  (void)sizeof(table_traits<typename query_table<T>::table>);
  using P = Columns<E1, E...>;
  return SelectOf<P, T>(P{std::tuple(first, rest...)}, {}, {}, {}, {}, 0, 0);
}

/// SELECT count(*) FROM T ...
template <class T>
auto count() {
  (void)sizeof(table_traits<typename query_table<T>::table>);
  return SelectOf<CountRows, T>();
}

/// SELECT EXISTS (SELECT 1 FROM T ...)
template <class T>
auto exists() {
  (void)sizeof(table_traits<typename query_table<T>::table>);
  return SelectOf<ExistsRows, T>();
}

}  // namespace keel

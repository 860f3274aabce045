package store

import (
	"context"
	"database/sql"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/sesame-edu/sesame/server/account"
)

// openEmbeddedTest opens the embedded store the way the program does
// (OpenEmbedded, then EnsureIndexes) in a temporary directory.
func openEmbeddedTest(tb testing.TB) *Store {
	tb.Helper()
	ctx := context.Background()
	s, err := OpenEmbedded(ctx, tb.TempDir(), "sesame_test", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		tb.Fatalf("open embedded store: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close(context.Background()) })
	if err := s.EnsureIndexes(ctx); err != nil {
		tb.Fatalf("indexes: %v", err)
	}
	return s
}

// tableOf reads the SQLite table FerretDB keeps collection in.
func tableOf(tb testing.TB, db *sql.DB, collection string) string {
	tb.Helper()
	var table string
	q := `SELECT table_name FROM ` + quoteIdent(ferretMetaTable) + ` WHERE name = ?`
	if err := db.QueryRow(q, collection).Scan(&table); err != nil {
		tb.Fatalf("table of collection %s in %s: %v", collection, ferretMetaTable, err)
	}
	return table
}

// queryPlan is SQLite's EXPLAIN QUERY PLAN of q, one line per step.
func queryPlan(t *testing.T, db *sql.DB, q string, args ...any) string {
	t.Helper()
	rows, err := db.Query(`EXPLAIN QUERY PLAN `+q, args...)
	if err != nil {
		t.Fatalf("explain %s: %v", q, err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

// TestSQLiteIDIndexUsed fails if a FerretDB upgrade moves the database file,
// renames the metadata table, or changes the expression it looks _id up with
// (internal/backends/sqlite/metadata/metadata.go, IDColumn, in
// github.com/FerretDB/FerretDB v1.24.2): then lookups by _id would silently
// go back to reading whole collections.
func TestSQLiteIDIndexUsed(t *testing.T) {
	ctx := context.Background()
	s := openEmbeddedTest(t)

	// One account through the store's own code, the rest in bulk.
	now := time.Now().UTC().Truncate(time.Millisecond)
	a := account.Account{ID: "p000000", Identifier: "P000000", Email: "anne.durand@example.fr", FirstName: "Anne", LastName: "Durand",
		Population: "parents", Status: account.StatusActive, PasswordHash: "h", PasswordSetBy: account.SetByImport, CreatedAt: now, UpdatedAt: now}
	if err := s.Accounts().SaveAccount(ctx, a, ""); err != nil {
		t.Fatal(err)
	}
	var docs []any
	for i := 1; i < 500; i++ {
		docs = append(docs, bson.D{{Key: "_id", Value: fmt.Sprintf("p%06d", i)}, {Key: "population", Value: "parents"}})
	}
	if _, err := s.wdb.Collection(colAccounts).InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}

	path := sqlitePath(s.embedded.dir, s.db.Name())
	db, err := openSQLite(path)
	if err != nil {
		t.Fatalf("the embedded store's SQLite file is not where FerretDB v1.24.2 kept it: %v", err)
	}
	defer db.Close()

	// Every collection exists from the start, and each has its index.
	missing, err := missingIDIndexes(ctx, db)
	if err != nil || len(missing) != 0 {
		t.Fatalf("tables without an _id index: %v, %v", missing, err)
	}
	for _, c := range collections() {
		tableOf(t, db, c)
	}

	// SQLite uses the index for each statement FerretDB runs by _id
	// (internal/backends/sqlite/collection.go: Query, UpdateAll, DeleteAll).
	table := tableOf(t, db, colAccounts)
	want := "USING INDEX " + table + idIndexSuffix
	for _, q := range []string{
		`SELECT _ferretdb_sjson FROM ` + quoteIdent(table) + ` WHERE ` + ferretIDExpr + ` = ?`,
		`UPDATE ` + quoteIdent(table) + ` SET _ferretdb_sjson = ? WHERE ` + ferretIDExpr + ` = ?`,
		`DELETE FROM ` + quoteIdent(table) + ` WHERE ` + ferretIDExpr + ` IN (?, ?)`,
	} {
		args := make([]any, strings.Count(q, "?"))
		for i := range args {
			args[i] = `"p000001"`
		}
		if plan := queryPlan(t, db, q, args...); !strings.Contains(plan, "SEARCH") || !strings.Contains(plan, want) {
			t.Errorf("%s\nplan:\n%s\nwant SEARCH … %s", q, plan, want)
		}
	}

	// FerretDB's own plan for a find by _id, through the driver: this
	// checks the query FerretDB really runs, not a copy of its expression.
	var res struct {
		FilterPushdown bool `bson:"filterPushdown"`
		QueryPlanner   struct {
			Plan []string `bson:"Plan"`
		} `bson:"queryPlanner"`
	}
	cmd := bson.D{{Key: "explain", Value: bson.D{{Key: "find", Value: colAccounts}, {Key: "filter", Value: bson.D{{Key: "_id", Value: "p000123"}}}}}}
	if err := s.db.RunCommand(ctx, cmd).Decode(&res); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(res.QueryPlanner.Plan, "\n"); !res.FilterPushdown || !strings.Contains(got, "SEARCH") || !strings.Contains(got, want) {
		t.Errorf("FerretDB's plan for find by _id (filter pushed down: %v):\n%s\nwant SEARCH … %s", res.FilterPushdown, got, want)
	}

	// The index changes no result.
	got, err := s.Accounts().GetAccount(ctx, a.ID)
	if err != nil || got.Email != a.Email {
		t.Fatalf("GetAccount = %+v, %v", got, err)
	}
	var d bson.M
	if err := s.db.Collection(colAccounts).FindOne(ctx, bson.D{{Key: "_id", Value: "p000499"}}).Decode(&d); err != nil {
		t.Fatalf("find the last document by _id: %v", err)
	}
	if r, err := s.wdb.Collection(colAccounts).UpdateOne(ctx, bson.D{{Key: "_id", Value: "p000250"}}, bson.D{{Key: "$set", Value: bson.D{{Key: "population", Value: "staff"}}}}); err != nil || r.ModifiedCount != 1 {
		t.Fatalf("update by _id: %+v, %v", r, err)
	}
	if r, err := s.wdb.Collection(colAccounts).DeleteOne(ctx, bson.D{{Key: "_id", Value: "p000251"}}); err != nil || r.DeletedCount != 1 {
		t.Fatalf("delete by _id: %+v, %v", r, err)
	}
	if n, err := s.db.Collection(colAccounts).CountDocuments(ctx, bson.D{{Key: "population", Value: "staff"}}); err != nil || n != 1 {
		t.Fatalf("count after update: %d, %v", n, err)
	}
}

// TestIndexIDsAgain checks that IndexIDs can run again: nothing to do when
// every table has its index, and a collection first written later gets one.
func TestIndexIDsAgain(t *testing.T) {
	ctx := context.Background()
	s := openEmbeddedTest(t)
	if n, err := s.IndexIDs(ctx); err != nil || n != 0 {
		t.Fatalf("second run: %d created, %v; want 0", n, err)
	}
	if _, err := s.wdb.Collection("created_later").InsertOne(ctx, bson.D{{Key: "_id", Value: "x"}}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.IndexIDs(ctx); err != nil || n != 1 {
		t.Fatalf("after a new collection: %d created, %v; want 1", n, err)
	}
	if n, err := s.IndexIDs(ctx); err != nil || n != 0 {
		t.Fatalf("third run: %d created, %v; want 0", n, err)
	}
	// A store that is not the embedded server has nothing to do.
	other := &Store{db: s.db, wdb: s.wdb, log: s.log}
	if n, err := other.IndexIDs(ctx); err != nil || n != 0 {
		t.Fatalf("not embedded: %d, %v", n, err)
	}
}

// TestCollectionsListed checks that collections names every collection this
// package's code uses, so that EnsureIndexes creates them all at start on
// the embedded store: each string constant named colX (the package's
// convention for collection names) that the code refers to, and any literal
// passed to Collection.
func TestCollectionsListed(t *testing.T) {
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	isColName := func(n string) bool { return len(n) > 3 && strings.HasPrefix(n, "col") && n[3] >= 'A' && n[3] <= 'Z' }
	consts := map[string]string{}
	declared := map[*ast.Ident]bool{}
	used := map[string]string{} // name or literal → file:line of one use
	var parsed []*ast.File
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		parsed = append(parsed, file)
		ast.Inspect(file, func(n ast.Node) bool {
			if vs, ok := n.(*ast.ValueSpec); ok {
				for i, name := range vs.Names {
					declared[name] = true
					if i >= len(vs.Values) {
						continue
					}
					if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING && isColName(name.Name) {
						consts[name.Name], _ = strconv.Unquote(lit.Value)
					}
				}
			}
			return true
		})
	}
	for _, file := range parsed {
		ast.Inspect(file, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.Ident:
				if _, ok := consts[n.Name]; ok && !declared[n] {
					used[n.Name] = fset.Position(n.Pos()).String()
				}
			case *ast.CallExpr:
				if sel, ok := n.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Collection" && len(n.Args) == 1 {
					if lit, ok := n.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						used[lit.Value] = fset.Position(n.Pos()).String()
					}
				}
			}
			return true
		})
	}
	if len(used) < len(collections()) {
		t.Fatalf("found %d collections used, fewer than the %d listed: is the parser missing some?", len(used), len(collections()))
	}
	for name, pos := range used {
		v, ok := consts[name]
		if !ok {
			v, _ = strconv.Unquote(name)
		}
		if !slices.Contains(collections(), v) {
			t.Errorf("%s: collection %q is missing from collections()", pos, v)
		}
	}
}

// BenchmarkFindOneByID is a FindOne by _id through the driver on a
// collection of 20,000 documents, with this package's SQLite index and
// without it (dropped), to compare with a full scan.
func BenchmarkFindOneByID(b *testing.B) {
	const n = 20000
	ctx := context.Background()
	s := openEmbeddedTest(b)
	c := s.wdb.Collection(colAccounts)
	for i := 0; i < n; i += 1000 {
		var docs []any
		for j := i; j < i+1000; j++ {
			docs = append(docs, bson.D{{Key: "_id", Value: fmt.Sprintf("p%06d", j)}, {Key: "population", Value: "parents"},
				{Key: "email", Value: fmt.Sprintf("parent.%d@famille.example", j)}, {Key: "passwordHash", Value: strings.Repeat("h", 90)}})
		}
		if _, err := c.InsertMany(ctx, docs); err != nil {
			b.Fatal(err)
		}
	}
	find := func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			var d bson.M
			if err := s.db.Collection(colAccounts).FindOne(ctx, bson.D{{Key: "_id", Value: fmt.Sprintf("p%06d", (i*7919)%n)}}).Decode(&d); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("sesame-index", find)
	b.Run("scan", func(b *testing.B) {
		db, err := openSQLite(sqlitePath(s.embedded.dir, s.db.Name()))
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		table := tableOf(b, db, colAccounts)
		if _, err := db.Exec(`DROP INDEX ` + quoteIdent(table+idIndexSuffix)); err != nil {
			b.Fatal(err)
		}
		find(b)
	})
}

// TestIndexIDsWhileWriting runs IndexIDs, whose connection to the SQLite
// file is not FerretDB's, while FerretDB writes to the table being indexed:
// no write may fail (the busy timeout makes each side wait for the other)
// and none may be lost.
func TestIndexIDsWhileWriting(t *testing.T) {
	ctx := context.Background()
	s := openEmbeddedTest(t)
	c := s.wdb.Collection("written_meanwhile")
	var docs []any
	for i := range 5000 {
		docs = append(docs, bson.D{{Key: "_id", Value: fmt.Sprintf("d%05d", i)}, {Key: "n", Value: 0}})
	}
	if _, err := c.InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	// The writers use the store's read client too, so that they do not queue
	// behind one connection: several FerretDB writers contend with IndexIDs.
	const writers, updates = 3, 20
	errc := make(chan error, writers)
	for w := range writers {
		go func() {
			for i := range updates {
				id := fmt.Sprintf("d%05d", w*1000+i)
				r, err := s.db.Collection("written_meanwhile").UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: 1}}}})
				if err == nil && r.ModifiedCount != 1 {
					err = fmt.Errorf("update %s modified %d documents", id, r.ModifiedCount)
				}
				if err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
	}
	if n, err := s.IndexIDs(ctx); err != nil || n != 1 {
		t.Errorf("IndexIDs while writing: %d created, %v; want 1", n, err)
	}
	for range writers {
		if err := <-errc; err != nil {
			t.Error(err)
		}
	}
	if n, err := c.CountDocuments(ctx, bson.D{{Key: "n", Value: 1}}); err != nil || n != writers*updates {
		t.Errorf("%d documents updated, %v; want %d", n, err, writers*updates)
	}
}

// TestIndexIDsWaitsForTheWriteLock holds SQLite's write lock for four
// times the busy timeout of IndexIDs's connection: IndexIDs must wait
// for it, trying again, rather than fail at its first timeout as it once
// did when FerretDB's writers kept the lock busy (TestIndexIDsWhileWriting
// under the race detector on CI).
func TestIndexIDsWaitsForTheWriteLock(t *testing.T) {
	ctx := context.Background()
	s := openEmbeddedTest(t)
	if _, err := s.wdb.Collection("indexed_later").InsertOne(ctx, bson.D{{Key: "_id", Value: "a"}}); err != nil {
		t.Fatal(err)
	}
	holder, err := openSQLite(sqlitePath(s.embedded.dir, s.db.Name()))
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	tx, err := holder.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	const hold = time.Second
	released := make(chan error, 1)
	go func() {
		time.Sleep(hold)
		released <- tx.Commit()
	}()
	start := time.Now()
	n, err := s.IndexIDs(ctx)
	waited := time.Since(start)
	if err != nil || n != 1 {
		t.Errorf("IndexIDs behind a held write lock: %d created, %v; want 1", n, err)
	}
	if waited < hold/2 {
		t.Errorf("IndexIDs returned after %v although the write lock was held for %v", waited, hold)
	}
	if err := <-released; err != nil {
		t.Fatal(err)
	}
}

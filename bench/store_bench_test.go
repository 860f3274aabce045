package main

// In-process benchmarks of what the profiles of the real binary point at
// (go run ./bench -profile DIR). Run them with
//
//	go test ./bench -run '^$' -bench . -benchtime 2000x
//
// and add -cpuprofile cpu.out to any of them.

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	_ "modernc.org/sqlite" // the SQLite FerretDB runs on

	"github.com/sesame-edu/sesame/server/store"
	"github.com/sesame-edu/sesame/server/store/storetest"
)

// BenchmarkSQLiteByID compares, on the SQLite engine FerretDB v1.24.2
// embeds (modernc.org/sqlite), a table laid out as FerretDB lays out a
// collection, the expression FerretDB queries by _id
// (metadata.IDColumn: _ferretdb_sjson->'$._id') with the expression of the
// unique index it creates on _id (_ferretdb_sjson->"_id"). The first is
// not recognised as the indexed expression, so every lookup, UPDATE and
// DELETE by _id reads and parses every row of the collection. The last
// case adds the index the embedded store creates on FerretDB's expression
// (store.IndexIDs) and queries with FerretDB's expression again.
func BenchmarkSQLiteByID(b *testing.B) {
	for _, n := range []int{2000, 10000, 50000} {
		db := ferretLikeTable(b, n)
		for _, c := range []struct{ name, expr, setup string }{
			{"ferretdb-expr", `_ferretdb_sjson->'$._id'`, ""},
			{"index-expr", `_ferretdb_sjson->"_id"`, ""},
			{"ferretdb-expr+sesame-index", `_ferretdb_sjson->'$._id'`, `CREATE INDEX t_sesame_id ON t (_ferretdb_sjson->'$._id')`},
		} {
			if c.setup != "" {
				if _, err := db.Exec(c.setup); err != nil {
					b.Fatal(err)
				}
			}
			b.Run(fmt.Sprintf("select/%s/n=%d", c.name, n), func(b *testing.B) {
				// FerretDB reads the whole result, as here; ids are
				// spread over the table.
				q := `SELECT _ferretdb_sjson FROM t WHERE ` + c.expr + ` = ?`
				for i := 0; b.Loop(); i++ {
					rows, err := db.Query(q, fmt.Sprintf(`"p%06d"`, (i*7919)%n))
					if err != nil {
						b.Fatal(err)
					}
					found := 0
					for rows.Next() {
						found++
					}
					if err := rows.Close(); err != nil || found != 1 {
						b.Fatalf("found %d, %v", found, err)
					}
				}
			})
			b.Run(fmt.Sprintf("update/%s/n=%d", c.name, n), func(b *testing.B) {
				q := `UPDATE t SET _ferretdb_sjson = ? WHERE ` + c.expr + ` = ?`
				for i := 0; b.Loop(); i++ {
					id := fmt.Sprintf("p%06d", (i*7919)%n)
					if _, err := db.Exec(q, fmt.Sprintf(`{"_id":%q,"count":%d}`, id, i), `"`+id+`"`); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		db.Close()
	}
}

func ferretLikeTable(b *testing.B, n int) *sql.DB {
	b.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(b.TempDir(), "t.sqlite")+"?_pragma=journal_mode(wal)&_pragma=busy_timeout(10000)")
	if err != nil {
		b.Fatal(err)
	}
	for _, q := range []string{
		`CREATE TABLE t (_ferretdb_sjson TEXT NOT NULL CHECK(_ferretdb_sjson != '')) STRICT`,
		`CREATE UNIQUE INDEX t__id_ ON t (_ferretdb_sjson->"_id")`,
	} {
		if _, err := db.Exec(q); err != nil {
			b.Fatal(err)
		}
	}
	tx, err := db.Begin()
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		doc := fmt.Sprintf(`{"$s":{"p":{"_id":{"t":"string"},"identifier":{"t":"string"},"email":{"t":"string"},"firstName":{"t":"string"},"lastName":{"t":"string"},"population":{"t":"string"},"status":{"t":"string"},"passwordHash":{"t":"string"}},"$k":["_id","identifier","email","firstName","lastName","population","status","passwordHash"]},"_id":"p%06d","identifier":"P%06d","email":"parent.%d@famille.example","firstName":"Léo","lastName":"Martin","population":"parents","status":"active","passwordHash":"$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"}`, i, i, i)
		if _, err := tx.Exec(`INSERT INTO t (_ferretdb_sjson) VALUES (?)`, doc); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	return db
}

// BenchmarkHitSharedKey is step 1's per-address rate limit
// (ratelimit.Limiter → store.Hit) with 8 concurrent callers on one key, as
// when a school's parents all come from one NAT address, or when one
// load generator runs on loopback. The $inc hint loses increments on the
// embedded server, so each later hit first tries the slots already taken
// (one failed unique insert, a write, per lost increment): the cost of a
// hit grows with the hits already made in the window. Compare
// -benchtime 500x with 2000x: ns/op and probes/op grow.
func BenchmarkHitSharedKey(b *testing.B) {
	for _, par := range []int{1, 4} {
		b.Run(fmt.Sprintf("callers=%d", par*2), func(b *testing.B) {
			st := storetest.New(b)
			ctx := context.Background()
			exp := time.Now().Add(time.Hour)
			key := fmt.Sprintf("ip:recovery:203.0.113.7|%d", time.Now().UnixNano())
			var maxRank atomic.Int64
			b.SetParallelism(par) // × GOMAXPROCS (2) goroutines
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					n, err := st.Limits().Hit(ctx, key, exp)
					if err != nil {
						b.Error(err)
						return
					}
					for {
						m := maxRank.Load()
						if int64(n) <= m || maxRank.CompareAndSwap(m, int64(n)) {
							break
						}
					}
				}
			})
			b.StopTimer()
			var d struct {
				Count int `bson:"count"`
			}
			if err := st.DB().Collection("rate_limits").FindOne(ctx, bson.D{{Key: "_id", Value: key}}).Decode(&d); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(int(maxRank.Load())-d.Count), "lost-increments")
		})
	}
}

// BenchmarkGetAccount is a key lookup of an account through the store, at
// several school sizes: recovery's dispatcher makes two per flow, step 2
// two more, sign-in one. seedStore runs EnsureIndexes, so the SQLite _id
// index of the embedded store (store.IndexIDs) is in place.
func BenchmarkGetAccount(b *testing.B) {
	for _, n := range []int{2000, 10000, 50000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			sd := generate(n)
			dir := b.TempDir()
			if err := seedStore(dir, sd); err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			st, err := store.OpenEmbedded(ctx, dir, "sesame", slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close(ctx)
			for i := 0; b.Loop(); i++ {
				if _, err := st.Accounts().GetAccount(ctx, sd.people[(i*7919)%n].ID); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

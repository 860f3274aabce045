package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"modernc.org/sqlite" // the SQLite FerretDB itself runs on, see openSQLite
	sqlite3 "modernc.org/sqlite/lib"
)

// FerretDB v1.24.2 keeps each database in one SQLite file and each collection
// in one table of it, the document as JSON in a single column. It looks
// documents up by _id with the expression below
// (internal/backends/sqlite/metadata/metadata.go, IDColumn, used by
// Query, UpdateAll and DeleteAll in internal/backends/sqlite/collection.go),
// but the unique index it creates on _id is on _ferretdb_sjson->"_id"
// (metadata/registry.go, indexesCreate). SQLite only uses an index on an
// expression for the very same expression, so every find, update and delete
// by _id reads and parses the whole table. Adding an index on FerretDB's own
// expression fixes that without patching FerretDB, which ignores indexes it
// did not create (it lists them from its settings, not from SQLite).
// TestSQLiteIDIndexUsed fails if an upgrade changes any of this.
const (
	// ferretMetaTable lists the collections and their tables.
	ferretMetaTable = "_ferretdb_collections"
	// ferretIDExpr is FerretDB's metadata.IDColumn.
	ferretIDExpr = `_ferretdb_sjson->'$._id'`
	// idIndexSuffix names this package's index after its table, as FerretDB
	// names its own ("<table>_<index name>"); no MongoDB index of this
	// package is called "sesame_id", so the names cannot clash.
	idIndexSuffix = "_sesame_id"
)

// collections lists every collection the package uses. On the embedded
// store EnsureIndexes creates them all at start, because FerretDB creates a
// table only when a collection is first written and IndexIDs can only index
// tables that exist. TestCollectionsListed keeps this list complete.
func collections() []string {
	return append([]string{
		colAccounts, colEmails, colChildren, colSubjects, colMeta, colOutbox, colOutboxClaims, colOutboxLog, colClaims, colRecovery, colRateLimits,
		colThrottle, colAudit, colSessions, colAccountSessions, colEmailChanges, colActivation, colMailboxes,
		colCASTickets, colCASLogins, colCASLogouts,
	}, oidcCollections()...)
}

// errNamespaceExists is the server code for creating a collection that
// already exists.
const errNamespaceExists = 48

// IndexIDs gives every collection table of the embedded store an index on
// the expression FerretDB looks _id up with, and reports how many it
// created. EnsureIndexes runs it at start; it is idempotent and only reads
// SQLite's schema when nothing is missing, so it can be run again (after
// each sweep) to cover a collection first written later. It does nothing on
// MongoDB, nor in a process that only connects to another process's
// embedded store: that process indexes its own tables.
func (s *Store) IndexIDs(ctx context.Context) (int, error) {
	if s.embedded == nil {
		return 0, nil
	}
	n, err := indexIDs(ctx, sqlitePath(s.embedded.dir, s.db.Name()))
	if err != nil {
		return n, fmt.Errorf("store: index _id in SQLite: %w", err)
	}
	return n, nil
}

// sqlitePath is the file FerretDB keeps a database in
// (internal/backends/sqlite/metadata/pool/pool.go: the database name and
// ".sqlite" in the directory of SQLiteURL).
func sqlitePath(dir, database string) string {
	return filepath.Join(dir, database+".sqlite")
}

// openSQLite opens a second handle on a SQLite file that FerretDB has open.
//
// This is safe: FerretDB opens the file with the same driver in this
// process, so both share one copy of the SQLite library, whose Unix VFS
// keeps one lock state per file for all its connections (closing this
// handle does not drop FerretDB's POSIX locks). FerretDB switched the file
// to WAL mode, which is persistent, so readers are never blocked; a write
// here waits for FerretDB's writers (see beginWrite), and FerretDB's busy
// timeout (10 s) makes its writers wait for this one. mode=rw never
// creates a file that is not there, and _txlock=immediate takes the write lock at BEGIN, so
// the tables read in a transaction are still there when they are indexed.
// One connection is enough and callers close it when done.
func openSQLite(path string) (*sql.DB, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("embedded store file: %w", err)
	}
	q := url.Values{}
	q.Set("mode", "rw")
	q.Add("_pragma", "busy_timeout(250)")
	q.Set("_txlock", "immediate")
	u := url.URL{Scheme: "file", Path: path, RawQuery: q.Encode()}
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// indexIDs creates the missing _id indexes in the SQLite file at path.
func indexIDs(ctx context.Context, path string) (int, error) {
	db, err := openSQLite(path)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	// Most runs find nothing to do: checking first keeps them to a read,
	// without taking the write lock that FerretDB's writers wait for.
	missing, err := missingIDIndexes(ctx, db)
	if err != nil || len(missing) == 0 {
		return 0, err
	}
	tx, err := beginWrite(ctx, db)
	if err != nil {
		return 0, fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	// Read again under the write lock: a table dropped in between would
	// make CREATE INDEX fail.
	if missing, err = missingIDIndexes(ctx, tx); err != nil {
		return 0, err
	}
	for _, table := range missing {
		if _, err := tx.ExecContext(ctx, createIDIndex(table)); err != nil {
			return 0, fmt.Errorf("index table %s: %w", table, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("commit: %w", err)
	}
	return len(missing), nil
}

// lockWait bounds how long indexIDs waits for SQLite's write lock.
const lockWait = time.Minute

// beginWrite takes SQLite's write lock (BEGIN IMMEDIATE, see openSQLite),
// trying again for up to lockWait while FerretDB's writers hold it.
//
// SQLite's busy handler alone is not enough: it polls the lock at growing
// intervals (100 ms apart after the first quarter second), and writers
// that follow one another leave it free only for moments in between, so
// one long busy timeout can run out without ever seeing the lock free (CI
// saw it: 10 s under the race detector, three writers updating by _id).
// A short timeout tried again keeps the polls close together.
func beginWrite(ctx context.Context, db *sql.DB) (*sql.Tx, error) {
	deadline := time.Now().Add(lockWait)
	for {
		tx, err := db.BeginTx(ctx, nil)
		var se *sqlite.Error
		if err == nil || !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			return tx, err
		}
	}
}

// queryer is what missingIDIndexes needs of a *sql.DB or *sql.Tx.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// missingIDIndexes lists the collection tables that have no _id index of
// this package.
func missingIDIndexes(ctx context.Context, db queryer) ([]string, error) {
	rows, err := db.QueryContext(ctx, `SELECT c.table_name FROM `+quoteIdent(ferretMetaTable)+` AS c
		WHERE NOT EXISTS (SELECT 1 FROM sqlite_master AS s WHERE s.type = 'index' AND s.name = c.table_name || ?)
		ORDER BY c.table_name`, idIndexSuffix)
	if err != nil {
		return nil, fmt.Errorf("list collection tables: %w", err)
	}
	defer rows.Close()
	var tables []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, fmt.Errorf("list collection tables: %w", err)
		}
		tables = append(tables, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list collection tables: %w", err)
	}
	return tables, nil
}

// createIDIndex is the statement that indexes table by FerretDB's _id
// expression. It is not UNIQUE: FerretDB's own index enforces that.
func createIDIndex(table string) string {
	return `CREATE INDEX IF NOT EXISTS ` + quoteIdent(table+idIndexSuffix) + ` ON ` + quoteIdent(table) + ` (` + ferretIDExpr + `)`
}

// quoteIdent quotes a SQLite identifier: in double quotes, any double quote
// in it doubled.
func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

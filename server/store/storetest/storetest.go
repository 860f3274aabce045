// Package storetest starts real MongoDB wire-protocol servers for tests and
// holds the store contract suites that every implementation of the domain
// packages' store interfaces must pass.
//
// Three servers can back a test:
//
//   - "embedded": FerretDB over SQLite files in a temporary directory,
//     opened exactly as production opens it (store.OpenEmbedded). Always
//     available; the default.
//   - "postgres": FerretDB over a PostgreSQL cluster that the test binary
//     creates for itself (see postgres.go), reached with store.Connect as a
//     production MongoDB is. FerretDB pushes every filter down to
//     PostgreSQL, which uses indexes, and serves the reading connections
//     concurrently: a second server whose behaviour differs from the
//     embedded one wherever the code could lean on an accident of SQLite
//     (strings holding U+0000, which PostgreSQL refuses, are one).
//     Skipped when PostgreSQL is not installed, unless
//     SESAME_TEST_POSTGRES=require.
//   - "mongodb": a real MongoDB at SESAME_TEST_MONGODB_URI; skipped when
//     the variable is unset.
//
// New opens the backend SESAME_TEST_BACKEND names (embedded by default), so
// that `SESAME_TEST_BACKEND=postgres go test ./server/...` runs every
// integration test on the second server. Backends lists all three for the
// contract suites.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/sesame-edu/sesame/server/store"
)

// Environment variables that choose and require backends.
const (
	// EnvBackend names the backend New opens: embedded (the default),
	// postgres or mongodb.
	EnvBackend = "SESAME_TEST_BACKEND"
	// EnvPostgres set to "require" turns the postgres backend's skip, when
	// PostgreSQL is not installed, into a failure (CI sets it); set to
	// "skip", it skips the backend even where PostgreSQL is installed:
	// make test's -race phase does, because its next phase runs every
	// test on PostgreSQL with the machine to itself (under -race, with the
	// other packages' tests beside it, FerretDB's commands to PostgreSQL
	// timed out once on CI's 2 cores).
	EnvPostgres = "SESAME_TEST_POSTGRES"
	// EnvMongoDBURI is the connection string of a real MongoDB to test on.
	EnvMongoDBURI = "SESAME_TEST_MONGODB_URI"
	// EnvStoreURI is the connection string of the embedded server run in
	// another process (`sesame store serve DIR`): New then opens a fresh
	// database there instead of starting a server inside the test binary.
	// make test sets it for the race detector's run, which would otherwise
	// instrument the server too and slow it tenfold.
	EnvStoreURI = "SESAME_TEST_STORE_URI"
)

// Backend names.
const (
	Embedded = "embedded"
	Postgres = "postgres"
	MongoDB  = "mongodb"
)

// New returns a connected store with its indexes on a fresh database of
// the backend SESAME_TEST_BACKEND names (the embedded one by default),
// closed when the test ends. A backend named explicitly must be available:
// the test fails otherwise, so that a run meant for PostgreSQL never
// passes on SQLite by mistake.
func New(tb testing.TB) *store.Store {
	tb.Helper()
	name := os.Getenv(EnvBackend)
	if uri := os.Getenv(EnvStoreURI); name == "" && uri != "" {
		return openURI(tb, uri)
	}
	if name == "" {
		name = Embedded
	}
	b, ok := backend(name)
	if !ok {
		tb.Fatalf("%s=%q: want %s, %s or %s", EnvBackend, name, Embedded, Postgres, MongoDB)
	}
	if err := b.available(); err != nil {
		tb.Fatalf("%s=%s: %v", EnvBackend, name, err)
	}
	return b.open(tb)
}

// Backend is a MongoDB wire-protocol server to run tests on.
type Backend struct {
	// Name is the backend's name, for t.Run.
	Name string
	// available tells why the backend cannot run here; errNoPostgres
	// and errNoMongoDB mean "not set up", which skips unless required.
	available func() error
	open      func(tb testing.TB) *store.Store
	// required turns "not set up" into a failure.
	required bool
}

// errNoMongoDB means no real MongoDB was given.
var errNoMongoDB = errors.New("storetest: " + EnvMongoDBURI + " is not set: no MongoDB to test on")

// Backends returns every backend, available here or not; run each as a
// subtest and call Check first.
func Backends(t *testing.T) []Backend {
	t.Helper()
	var bs []Backend
	for _, name := range []string{Embedded, Postgres, MongoDB} {
		b, _ := backend(name)
		bs = append(bs, b)
	}
	return bs
}

func backend(name string) (Backend, bool) {
	switch name {
	case Embedded:
		return Backend{Name: Embedded, available: func() error { return nil }, open: openEmbedded}, true
	case Postgres:
		return Backend{
			Name: Postgres,
			available: func() error {
				if os.Getenv(EnvPostgres) == "skip" {
					return fmt.Errorf("%w: %s=skip", errNoPostgres, EnvPostgres)
				}
				_, err := sharedPostgres()
				return err
			},
			open:     openPostgres,
			required: os.Getenv(EnvPostgres) == "require",
		}, true
	case MongoDB:
		return Backend{
			Name: MongoDB,
			available: func() error {
				if os.Getenv(EnvMongoDBURI) == "" {
					return errNoMongoDB
				}
				return nil
			},
			open: func(tb testing.TB) *store.Store { return openURI(tb, os.Getenv(EnvMongoDBURI)) },
		}, true
	}
	return Backend{}, false
}

// Check skips t when the backend is not set up here (PostgreSQL not
// installed, no MongoDB URI), fails it when it is set up but does not start
// or when the environment requires it, and returns otherwise.
func (b Backend) Check(t testing.TB) {
	t.Helper()
	err := b.available()
	switch {
	case err == nil:
	case (errors.Is(err, errNoPostgres) || errors.Is(err, errNoMongoDB)) && !b.required:
		t.Skipf("%v", err)
	case errors.Is(err, errNoPostgres):
		t.Fatalf("%s=require: %v", EnvPostgres, err)
	default:
		t.Fatalf("backend %s: %v", b.Name, err)
	}
}

// Open returns a connected store with its indexes on a fresh database of
// the backend, closed (and its database dropped) when tb ends. It checks
// the backend first, as Check does.
func (b Backend) Open(tb testing.TB) *store.Store {
	tb.Helper()
	b.Check(tb)
	return b.open(tb)
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// openEmbedded opens the store the way production opens it
// (store.OpenEmbedded: a Unix socket and the one-connection writer).
func openEmbedded(tb testing.TB) *store.Store {
	tb.Helper()
	s, err := store.OpenEmbedded(context.Background(), tb.TempDir(), "sesame_test", discard())
	if err != nil {
		tb.Fatalf("open embedded store: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close(context.Background()) })
	if err := s.EnsureIndexes(context.Background()); err != nil {
		tb.Fatalf("indexes: %v", err)
	}
	return s
}

// openPostgres opens a store on a database of its own on the binary's
// shared FerretDB over PostgreSQL (a schema of its own in PostgreSQL).
func openPostgres(tb testing.TB) *store.Store {
	tb.Helper()
	srv, err := sharedPostgres()
	if err != nil {
		tb.Fatalf("postgres backend: %v", err)
	}
	return openURI(tb, srv.uri)
}

// openURI connects to a server shared by many tests, on a database named
// at random so that tests, and test binaries, never see each other's
// documents; the database is dropped when tb ends.
func openURI(tb testing.TB, uri string) *store.Store {
	tb.Helper()
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	name := "sesame_test_" + hex.EncodeToString(b)
	ctx := context.Background()
	s, err := store.Connect(ctx, uri, name, discard())
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.DB().Drop(ctx); err != nil {
			tb.Errorf("drop test database %s: %v", name, err)
		}
		_ = s.Close(ctx)
	})
	if err := s.EnsureIndexes(ctx); err != nil {
		tb.Fatalf("indexes: %v", fmt.Errorf("database %s: %w", name, err))
	}
	return s
}

// Package storetest starts a real MongoDB wire-protocol server for tests:
// the embedded FerretDB over SQLite files, reached through the official driver.
package storetest

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/sesame-edu/sesame/server/store"
)

// New returns a connected store on a fresh database in a temporary
// directory, opened the way production opens it (store.OpenEmbedded: a
// Unix socket and the one-connection writer), closed when the test ends.
func New(tb testing.TB) *store.Store {
	tb.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := store.OpenEmbedded(context.Background(), tb.TempDir(), "sesame_test", log)
	if err != nil {
		tb.Fatalf("open embedded store: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close(context.Background()) })
	if err := s.EnsureIndexes(context.Background()); err != nil {
		tb.Fatalf("indexes: %v", err)
	}
	return s
}

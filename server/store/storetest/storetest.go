// Package storetest starts a real MongoDB wire-protocol server for tests:
// the embedded FerretDB, in memory, reached through the official driver.
package storetest

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/sesame-edu/sesame/server/store"
)

// New returns a connected store on a fresh database in a temporary directory, closed when
// the test ends.
func New(tb testing.TB) *store.Store {
	tb.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	e, err := store.StartEmbedded(tb.TempDir(), false, log)
	if err != nil {
		tb.Fatalf("start embedded store: %v", err)
	}
	s, err := store.Connect(context.Background(), e.URI(), "sesame_test", log)
	if err != nil {
		e.Stop()
		tb.Fatalf("connect: %v", err)
	}
	tb.Cleanup(func() {
		_ = s.Close(context.Background())
		e.Stop()
	})
	if err := s.EnsureIndexes(context.Background()); err != nil {
		tb.Fatalf("indexes: %v", err)
	}
	return s
}

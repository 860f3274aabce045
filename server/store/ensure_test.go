package store

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// TestEnsureIndexesCommands counts what EnsureIndexes sends on the embedded
// server, for a fresh database and for the next start, and checks what it
// leaves: every collection, and every index the server keeps (FerretDB
// refuses TTL indexes; Sweep covers them). Every test and every start pays
// for these commands; it once sent 59 for a fresh database and 30 at a
// restart.
func TestEnsureIndexesCommands(t *testing.T) {
	ctx := context.Background()
	s, err := OpenEmbedded(ctx, t.TempDir(), "sesame_test", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })

	withIndex := map[string]bool{} // collections with an index FerretDB keeps
	for _, ix := range allIndexes() {
		if !isTTL(ix.model) {
			withIndex[ix.collection] = true
		}
	}
	run := func() map[string]int {
		var mu sync.Mutex
		sent := map[string]int{}
		stop := s.Observe(func(c Command) { mu.Lock(); sent[c.Name]++; mu.Unlock() })
		defer stop()
		if err := s.EnsureIndexes(ctx); err != nil {
			t.Fatal(err)
		}
		return sent
	}

	fresh := run()
	// One createIndexes per collection with indexes, plus the retry of the
	// first one the server refused for its TTL index; one create for each
	// of the others.
	if want := len(withIndex) + 1; fresh["createIndexes"] > want {
		t.Errorf("fresh database: %d createIndexes; want at most %d", fresh["createIndexes"], want)
	}
	if want := len(collections()) - len(withIndex); fresh["create"] > want {
		t.Errorf("fresh database: %d create; want at most %d", fresh["create"], want)
	}
	t.Logf("fresh database: %v", fresh)

	have, err := s.db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range collections() {
		if !slices.Contains(have, c) {
			t.Errorf("collection %s not created", c)
		}
	}
	for _, ix := range allIndexes() {
		if isTTL(ix.model) {
			continue
		}
		specs, err := s.db.Collection(ix.collection).Indexes().ListSpecifications(ctx)
		if err != nil {
			t.Fatal(err)
		}
		keys, _ := bson.Marshal(ix.model.Keys)
		if !slices.ContainsFunc(specs, func(sp mongo.IndexSpecification) bool { return bson.Raw(keys).String() == sp.KeysDocument.String() }) {
			t.Errorf("%s: index on %v missing", ix.collection, ix.model.Keys)
		}
	}

	again := run()
	if again["create"] != 0 || again["createIndexes"] > len(withIndex)+1 {
		t.Errorf("next start: %v; want no create and at most %d createIndexes", again, len(withIndex)+1)
	}
	t.Logf("next start: %v", again)
}

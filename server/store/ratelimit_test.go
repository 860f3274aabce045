package store_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/sesame-edu/sesame/server/store"
	"github.com/sesame-edu/sesame/server/store/storetest"
)

// TestHitsAcrossInstances: instances that remember their own ranks still
// give every hit a rank of its own when they take turns, and the shared
// counter an instance starting afresh (a restart) reads lags the claims by
// a few slots only, so that its probe stays short.
func TestHitsAcrossInstances(t *testing.T) {
	ctx := context.Background()
	stores, db := embedded(t, 3)
	a, b := stores[0].Limits(), stores[1].Limits()
	expires := time.Now().Add(time.Hour)
	var ranks []int
	for i := range 40 {
		s := a
		if i%3 == 2 {
			s = b
		}
		n, err := s.Hit(ctx, "ip:192.0.2.9|1", expires)
		if err != nil {
			t.Fatal(err)
		}
		ranks = append(ranks, n)
	}
	sorted := slices.Sorted(slices.Values(ranks))
	for i, r := range sorted {
		if r != i+1 {
			t.Fatalf("ranks %v: two hits shared a rank or one was skipped", ranks)
		}
	}
	var counter struct {
		Count int `bson:"count"`
	}
	if err := db.Collection("rate_limits").FindOne(ctx, bson.D{{Key: "_id", Value: "ip:192.0.2.9|1"}}).Decode(&counter); err != nil {
		t.Fatal(err)
	}
	if counter.Count < 40-8 {
		t.Errorf("the counter says %d after 40 hits: a fresh instance would probe %d taken slots", counter.Count, 40-counter.Count)
	}
	before, err := db.Collection("claims").CountDocuments(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	n, err := stores[2].Limits().Hit(ctx, "ip:192.0.2.9|1", expires)
	if err != nil || n != 41 {
		t.Fatalf("a fresh instance's hit = %d, %v; want 41", n, err)
	}
	// The probe's failed inserts leave nothing; its one success adds one.
	if after, _ := db.Collection("claims").CountDocuments(ctx, bson.D{}); after != before+1 {
		t.Errorf("claims %d → %d", before, after)
	}
}

// TestConcurrentHitsProbeOnce: hits sent at once on one key from one
// process (many parents behind a school's address) each claim a slot of
// their own at the first try: the documents inserted are as many as the
// hits, not the k²/2 of probes all starting from the same slot.
func TestConcurrentHitsProbeOnce(t *testing.T) {
	ctx := context.Background()
	stores, _ := embedded(t, 1)
	s := stores[0]
	expires := time.Now().Add(time.Hour)
	if _, err := s.Limits().Hit(ctx, "ip:198.51.100.7", expires); err != nil {
		t.Fatal(err)
	}
	var inserts atomic.Int64
	stop := s.Observe(func(c store.Command) {
		if c.Name == "insert" && c.Collection == "claims" {
			inserts.Add(int64(c.Docs))
		}
	})
	const k = 40
	ranks := make([]int, k)
	errs := make([]error, k)
	storetest.Race(k, func(i int) {
		ranks[i], errs[i] = s.Limits().Hit(ctx, "ip:198.51.100.7", expires)
	})
	stop()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if sorted := slices.Sorted(slices.Values(ranks)); sorted[0] != 2 || sorted[k-1] != k+1 || len(slices.Compact(sorted)) != k {
		t.Errorf("ranks %v: want each of 2…%d once", sorted, k+1)
	}
	if n := inserts.Load(); n != k {
		t.Errorf("%d claims inserted for %d concurrent hits; want %d", n, k, k)
	}
}

// TestNewKeyOneCommand: the first hit on a key nobody has seen (every step
// 1 names an identifier of its own) costs one command, the claim of its
// first slot; a key with a history elsewhere costs the failed claim, the
// counter's read and the probe from there, and still gets the next rank.
func TestNewKeyOneCommand(t *testing.T) {
	ctx := context.Background()
	stores, _ := embedded(t, 2)
	expires := time.Now().Add(time.Hour)
	var mu sync.Mutex
	var sent []string
	observe := func(s *store.Store) func() {
		return s.Observe(func(c store.Command) {
			mu.Lock()
			sent = append(sent, c.String())
			mu.Unlock()
		})
	}
	stop := observe(stores[0])
	n, err := stores[0].Limits().Hit(ctx, "id:P0421", expires)
	stop()
	if err != nil || n != 1 {
		t.Fatalf("first hit = %d, %v; want 1", n, err)
	}
	if !slices.Equal(sent, []string{"insert claims"}) {
		t.Errorf("first hit on a new key sent %v; want [insert claims]", sent)
	}

	sent = nil
	stop = observe(stores[1])
	n, err = stores[1].Limits().Hit(ctx, "id:P0421", expires)
	stop()
	if err != nil || n != 2 {
		t.Fatalf("the other instance's first hit on the key = %d, %v; want 2", n, err)
	}
	if want := []string{"insert claims", "find rate_limits", "insert claims"}; !slices.Equal(sent, want) {
		t.Errorf("first hit here on a key with a history sent %v; want %v", sent, want)
	}
}

// TestConcurrentFirstHits: hits sent at once on a key nobody has seen
// (parents behind one address asking for the same child) take the new
// key's fast path together: each gets a rank of its own, 1 to k, with one
// claim each and no read of the counter.
func TestConcurrentFirstHits(t *testing.T) {
	ctx := context.Background()
	stores, _ := embedded(t, 1)
	s := stores[0]
	expires := time.Now().Add(time.Hour)
	var inserts, reads atomic.Int64
	stop := s.Observe(func(c store.Command) {
		switch {
		case c.Name == "insert" && c.Collection == "claims":
			inserts.Add(int64(c.Docs))
		case c.Name == "find" && c.Collection == "rate_limits":
			reads.Add(1)
		}
	})
	const k = 40
	ranks := make([]int, k)
	errs := make([]error, k)
	storetest.Race(k, func(i int) {
		ranks[i], errs[i] = s.Limits().Hit(ctx, "id:P0777", expires)
	})
	stop()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if sorted := slices.Sorted(slices.Values(ranks)); sorted[0] != 1 || sorted[k-1] != k || len(slices.Compact(sorted)) != k {
		t.Errorf("ranks %v: want each of 1…%d once", sorted, k)
	}
	if n, r := inserts.Load(), reads.Load(); n != k || r != 0 {
		t.Errorf("%d claims inserted and %d counter reads for %d concurrent first hits; want %d and 0", n, r, k, k)
	}
}

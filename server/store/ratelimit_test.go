package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
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

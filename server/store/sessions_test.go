package store_test

import (
	"context"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestSessionsOfAnEarlierVersionAreRevoked: sessions written before the
// per-account list existed are listed at the next start, so that a reset
// still ends them.
func TestSessionsOfAnEarlierVersionAreRevoked(t *testing.T) {
	ctx := context.Background()
	stores, db := embedded(t, 1)
	if _, err := db.Collection("sessions").InsertOne(ctx, bson.D{{Key: "_id", Value: "old"}, {Key: "accountId", Value: "p1"},
		{Key: "expiresAt", Value: time.Now().Add(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Collection("meta").DeleteOne(ctx, bson.D{{Key: "_id", Value: "account_sessions_listed"}}); err != nil {
		t.Fatal(err)
	}
	if err := stores[0].EnsureIndexes(ctx); err != nil { // the next start
		t.Fatal(err)
	}
	if err := stores[0].Sessions().RevokeAll(ctx, "p1"); err != nil {
		t.Fatal(err)
	}
	if n, _ := db.Collection("sessions").CountDocuments(ctx, bson.D{}); n != 0 {
		t.Errorf("%d session(s) of the earlier version survive a reset", n)
	}
}

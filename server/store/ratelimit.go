package store

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

const colRateLimits = "rate_limits"

func rateLimitIndexes() []index {
	return []index{
		{colRateLimits, mongo.IndexModel{Keys: bson.D{{Key: "expiresAt", Value: 1}}, Options: options.Index().SetExpireAfterSeconds(0)}},
	}
}

// Hit counts one hit on key and returns its rank in the window, the same
// on every instance sharing the database.
//
// Each hit claims a numbered slot (key#1, key#2, …): a unique insert, atomic
// on MongoDB and on the embedded server alike. An $inc counter gives the
// slot to try first; on the embedded server concurrent increments may be
// lost, which only makes the probe start lower, never lets two hits share a
// rank.
func (s *Store) Hit(ctx context.Context, key string, expires time.Time) (int, error) {
	n, err := s.hint(ctx, key, expires)
	if err != nil {
		return 0, err
	}
	for range 1000 {
		ok, err := s.claim(ctx, fmt.Sprintf("rl|%s#%d", key, n), expires)
		if err != nil {
			return 0, fmt.Errorf("store: rate limit: %w", err)
		}
		if ok {
			return n, nil
		}
		n++
	}
	return n, nil
}

func (s *Store) hint(ctx context.Context, key string, expires time.Time) (int, error) {
	var d struct {
		Count int `bson:"count"`
	}
	err := s.db.Collection(colRateLimits).FindOneAndUpdate(ctx,
		bson.D{{Key: "_id", Value: key}},
		bson.D{
			{Key: "$inc", Value: bson.D{{Key: "count", Value: 1}}},
			{Key: "$setOnInsert", Value: bson.D{{Key: "expiresAt", Value: expires}}},
		},
		options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After),
	).Decode(&d)
	if err != nil {
		return 0, fmt.Errorf("store: rate limit: %w", err)
	}
	return d.Count, nil
}

// SweepRateLimits deletes finished windows.
func (s *Store) SweepRateLimits(ctx context.Context, now time.Time) (int, error) {
	return s.sweep(ctx, colRateLimits, "expiresAt", now)
}

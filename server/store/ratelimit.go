package store

import (
	"context"
	"errors"
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
// on MongoDB and on the embedded server alike. The first time this process
// sees the key it claims the first slot; when that is taken, a shared
// counter gives the slot to try next; it may lag, which only makes the
// probe start lower, never lets two hits share a rank.
//
// Once this process has given the key a rank, the next probe starts just
// above it without reading the counter: one write per hit, and the claims
// stay the only source of truth. The counter is raised ($max) every
// hintEvery ranks, so that another instance, or this one after a restart,
// starts at most that many taken slots low.
//
// Each call reserves its rank in this process before it claims it, so
// that concurrent hits on one key (a school's parents behind one address)
// try different slots: probing from a shared starting point made k
// concurrent hits cost k²/2 inserts, all through the embedded store's one
// writer (measured: step 1 at p99 17 s under 200 people from one address).
func (s Limits) Hit(ctx context.Context, key string, expires time.Time) (int, error) {
	n, known := s.reserve(key, 0)
	if !known {
		// First sight of the key here. Most keys are new everywhere
		// (every step 1 names an identifier of its own): the first slot
		// is claimed straight away, one command instead of a read of the
		// counter and a claim. Only when it is taken (a key with a
		// history: another instance, a restart) does the counter say
		// roughly how many slots are, and the probe starts there.
		n, _ = s.reserve(key, 1)
		ok, err := s.claim(ctx, fmt.Sprintf("rl|%s#%d", key, n), expires)
		if err != nil {
			s.unreserve(key, n)
			return 0, fmt.Errorf("store: rate limit: %w", err)
		}
		if ok {
			return n, nil
		}
		hint, err := s.hint(ctx, key)
		if err != nil {
			s.unreserve(key, n)
			return 0, err
		}
		n, _ = s.reserve(key, hint)
	}
	for range 1000 {
		ok, err := s.claim(ctx, fmt.Sprintf("rl|%s#%d", key, n), expires)
		if err != nil {
			// The rank was reserved here but not claimed: give it back,
			// or it would stay a gap — at a throttle's last free rank, a
			// gap means that no failure ever sets the deadline.
			s.unreserve(key, n)
			return 0, fmt.Errorf("store: rate limit: %w", err)
		}
		if ok {
			if n%hintEvery == 0 {
				if err := s.raiseHint(ctx, key, n, expires); err != nil {
					return 0, err
				}
			}
			return n, nil
		}
		// Another instance has this slot: the next one free of both.
		n, _ = s.reserve(key, n+1)
	}
	return n, nil
}

// hintEvery is how many ranks a key's counter may lag behind its claims.
const hintEvery = 8

// raiseHint lifts a key's counter to at least n, without reading it.
func (s *Store) raiseHint(ctx context.Context, key string, n int, expires time.Time) error {
	_, err := s.wdb.Collection(colRateLimits).UpdateOne(ctx, bson.D{{Key: "_id", Value: key}},
		bson.D{
			{Key: "$max", Value: bson.D{{Key: "count", Value: n}}},
			{Key: "$setOnInsert", Value: bson.D{{Key: "expiresAt", Value: expires}}},
		}, options.UpdateOne().SetUpsert(true))
	if err != nil && !mongo.IsDuplicateKeyError(err) {
		return fmt.Errorf("store: rate limit: %w", err)
	}
	return nil
}

// hint reads where probing for key should start: the shared counter,
// which raiseHint keeps at most hintEvery ranks below the claims. It only
// reads: a write here cost every new key (every step 1 names a new one) a
// second write for nothing, since the claim decides anyway.
func (s *Store) hint(ctx context.Context, key string) (int, error) {
	var d struct {
		Count int `bson:"count"`
	}
	err := s.db.Collection(colRateLimits).FindOne(ctx, bson.D{{Key: "_id", Value: key}}).Decode(&d)
	if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
		return 0, fmt.Errorf("store: rate limit: %w", err)
	}
	// The hint is only where probing starts: never below the first slot.
	return max(d.Count, 1), nil
}

// SweepRateLimits deletes finished windows.
func (s *Store) SweepRateLimits(ctx context.Context, now time.Time) (int, error) {
	return s.sweep(ctx, colRateLimits, "expiresAt", now)
}

const colThrottle = "throttle"

func throttleIndexes() []index {
	return []index{
		{colThrottle, mongo.IndexModel{Keys: bson.D{{Key: "expiresAt", Value: 1}}, Options: options.Index().SetExpireAfterSeconds(0)}},
	}
}

// ThrottleState reads a throttled key.
func (s Limits) ThrottleState(ctx context.Context, key string) (int, time.Time, int, error) {
	var d struct {
		Gen          int       `bson:"gen"`
		BlockedUntil time.Time `bson:"blockedUntil"`
		Refunds      int       `bson:"refunds"`
		ExpiresAt    time.Time `bson:"expiresAt"`
	}
	err := s.db.Collection(colThrottle).FindOne(ctx, bson.D{{Key: "_id", Value: key}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0, time.Time{}, 0, nil
	}
	if err != nil {
		return 0, time.Time{}, 0, fmt.Errorf("store: throttle: %w", err)
	}
	return d.Gen, utc(d.BlockedUntil), d.Refunds, nil
}

// Refund counts an attempt of the key's generation that succeeded.
func (s Limits) Refund(ctx context.Context, key string, expires time.Time) error {
	err := upsertRetry(func() error {
		_, err := s.wdb.Collection(colThrottle).UpdateOne(ctx, bson.D{{Key: "_id", Value: key}},
			bson.D{
				{Key: "$inc", Value: bson.D{{Key: "refunds", Value: 1}}},
				{Key: "$set", Value: bson.D{{Key: "expiresAt", Value: expires}}},
			}, options.UpdateOne().SetUpsert(true))
		return err
	})
	if err != nil {
		return fmt.Errorf("store: refund throttle: %w", err)
	}
	return nil
}

// Claim records key and reports whether this call was the first to do so.
func (s Limits) Claim(ctx context.Context, key string, expires time.Time) (bool, error) {
	return s.claim(ctx, key, expires)
}

// Block raises a key's deadline ($max never lowers it).
func (s Limits) Block(ctx context.Context, key string, until, expires time.Time) error {
	err := upsertRetry(func() error {
		_, err := s.wdb.Collection(colThrottle).UpdateOne(ctx, bson.D{{Key: "_id", Value: key}},
			bson.D{
				{Key: "$max", Value: bson.D{{Key: "blockedUntil", Value: until}}},
				{Key: "$set", Value: bson.D{{Key: "expiresAt", Value: expires}}},
			}, options.UpdateOne().SetUpsert(true))
		return err
	})
	if err != nil {
		return fmt.Errorf("store: block: %w", err)
	}
	return nil
}

// Reset starts a new generation of a key's failures and lifts its block.
func (s Limits) Reset(ctx context.Context, key string, expires time.Time) error {
	err := upsertRetry(func() error {
		_, err := s.wdb.Collection(colThrottle).UpdateOne(ctx, bson.D{{Key: "_id", Value: key}},
			bson.D{
				{Key: "$inc", Value: bson.D{{Key: "gen", Value: 1}}},
				{Key: "$set", Value: bson.D{{Key: "blockedUntil", Value: time.Time{}}, {Key: "refunds", Value: 0}, {Key: "expiresAt", Value: expires}}},
			}, options.UpdateOne().SetUpsert(true))
		return err
	})
	if err != nil {
		return fmt.Errorf("store: reset throttle: %w", err)
	}
	return nil
}

// SweepThrottle deletes forgotten throttle states.
func (s *Store) SweepThrottle(ctx context.Context, now time.Time) (int, error) {
	return s.sweep(ctx, colThrottle, "expiresAt", now)
}

// reserve gives the caller the next rank of key in this process, at least
// from, and records it as taken here. With from = 0 it reports false, and
// reserves nothing, for a key this process has not seen. The map is
// bounded: it is only where probing starts.
func (s *Store) reserve(key string, from int) (int, bool) {
	s.hwMu.Lock()
	defer s.hwMu.Unlock()
	if s.hw == nil || len(s.hw) > 100_000 {
		s.hw = map[string]int{}
	}
	last, known := s.hw[key]
	if !known && from == 0 {
		return 0, false
	}
	n := max(last+1, from)
	s.hw[key] = n
	return n, true
}

// unreserve gives rank n of key back when it is still the last reserved
// here (its claim, or the counter's read after it, failed); a rank
// reserved since stays, and its own claim decides. Given back, the first
// rank leaves the key unseen here, so that its next hit starts over,
// counter included, instead of probing slot by slot from rank 1.
func (s *Store) unreserve(key string, n int) {
	s.hwMu.Lock()
	defer s.hwMu.Unlock()
	switch {
	case s.hw[key] != n:
	case n <= 1:
		delete(s.hw, key)
	default:
		s.hw[key] = n - 1
	}
}

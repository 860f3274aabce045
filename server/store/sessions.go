package store

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

const colSessions = "sessions"

func sessionIndexes() []index {
	return []index{
		{colSessions, mongo.IndexModel{Keys: bson.D{{Key: "expiresAt", Value: 1}}, Options: options.Index().SetExpireAfterSeconds(0)}},
		{colSessions, mongo.IndexModel{Keys: bson.D{{Key: "accountId", Value: 1}}}},
	}
}

// RevokeAll ends every session of an account, on every device: after a
// password change nobody keeps a session opened with the old one.
func (s *Store) RevokeAll(ctx context.Context, accountID string) error {
	if _, err := s.db.Collection(colSessions).DeleteMany(ctx, bson.D{{Key: "accountId", Value: accountID}}); err != nil {
		return fmt.Errorf("store: revoke sessions: %w", err)
	}
	return nil
}

// SweepSessions deletes expired sessions.
func (s *Store) SweepSessions(ctx context.Context, now time.Time) (int, error) {
	return s.sweep(ctx, colSessions, "expiresAt", now)
}

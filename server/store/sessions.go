package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sesame-edu/sesame/server/session"

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
func (s Sessions) RevokeAll(ctx context.Context, accountID string) error {
	if _, err := s.wdb.Collection(colSessions).DeleteMany(ctx, bson.D{{Key: "accountId", Value: accountID}}); err != nil {
		return fmt.Errorf("store: revoke sessions: %w", err)
	}
	return nil
}

// SweepSessions deletes expired sessions.
func (s *Store) SweepSessions(ctx context.Context, now time.Time) (int, error) {
	return s.sweep(ctx, colSessions, "expiresAt", now)
}

type sessionDoc struct {
	ID          string    `bson:"_id"`
	AccountID   string    `bson:"accountId"`
	CreatedAt   time.Time `bson:"createdAt"`
	SeenAt      time.Time `bson:"seenAt"`
	ExpiresAt   time.Time `bson:"expiresAt"`
	AbsoluteEnd time.Time `bson:"absoluteEnd"`
}

// CreateSession inserts a session.
func (s Sessions) CreateSession(ctx context.Context, x session.Session) error {
	_, err := s.wdb.Collection(colSessions).InsertOne(ctx, sessionDoc{ID: x.ID, AccountID: x.AccountID,
		CreatedAt: x.CreatedAt, SeenAt: x.SeenAt, ExpiresAt: x.ExpiresAt, AbsoluteEnd: x.AbsoluteEnd})
	if err != nil {
		return fmt.Errorf("store: create session: %w", err)
	}
	return nil
}

// GetSession reads a session by the hash of its token.
func (s Sessions) GetSession(ctx context.Context, id string) (session.Session, error) {
	var d sessionDoc
	err := s.db.Collection(colSessions).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return session.Session{}, session.ErrNotFound
	}
	if err != nil {
		return session.Session{}, fmt.Errorf("store: get session: %w", err)
	}
	return session.Session{ID: d.ID, AccountID: d.AccountID, CreatedAt: utc(d.CreatedAt), SeenAt: utc(d.SeenAt),
		ExpiresAt: utc(d.ExpiresAt), AbsoluteEnd: utc(d.AbsoluteEnd)}, nil
}

// TouchSession records activity and the new idle deadline.
func (s Sessions) TouchSession(ctx context.Context, id string, seen, expires time.Time) error {
	_, err := s.wdb.Collection(colSessions).UpdateOne(ctx, bson.D{{Key: "_id", Value: id}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "seenAt", Value: seen}, {Key: "expiresAt", Value: expires}}}})
	if err != nil {
		return fmt.Errorf("store: touch session: %w", err)
	}
	return nil
}

// DeleteSession ends one session.
func (s Sessions) DeleteSession(ctx context.Context, id string) error {
	if _, err := s.wdb.Collection(colSessions).DeleteOne(ctx, bson.D{{Key: "_id", Value: id}}); err != nil {
		return fmt.Errorf("store: delete session: %w", err)
	}
	return nil
}

// RevokeOthers ends every session of an account except keepID.
func (s Sessions) RevokeOthers(ctx context.Context, accountID, keepID string) error {
	_, err := s.wdb.Collection(colSessions).DeleteMany(ctx, bson.D{
		{Key: "accountId", Value: accountID}, {Key: "_id", Value: bson.D{{Key: "$ne", Value: keepID}}}})
	if err != nil {
		return fmt.Errorf("store: revoke other sessions: %w", err)
	}
	return nil
}

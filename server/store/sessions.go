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

// colAccountSessions lists, per account (_id), the ids of its sessions, so
// that ending them all reads and deletes by _id: on the embedded store a
// delete by accountId reads every session of the school. On MongoDB the
// $addToSet and $pull are atomic; on FerretDB one process's writes take
// turns on one connection (Store.wdb), as for the other index documents.
const colAccountSessions = "account_sessions"

type accountSessionsDoc struct {
	ID  string   `bson:"_id"`
	IDs []string `bson:"ids"`
}

func sessionIndexes() []index {
	return []index{
		{colSessions, mongo.IndexModel{Keys: bson.D{{Key: "expiresAt", Value: 1}}, Options: options.Index().SetExpireAfterSeconds(0)}},
		{colSessions, mongo.IndexModel{Keys: bson.D{{Key: "accountId", Value: 1}}}},
	}
}

// RevokeAll ends every session of an account, on every device: after a
// password change nobody keeps a session opened with the old one.
func (s Sessions) RevokeAll(ctx context.Context, accountID string) error {
	return s.revoke(ctx, accountID, "")
}

// RevokeOthers ends every session of an account except keepID.
func (s Sessions) RevokeOthers(ctx context.Context, accountID, keepID string) error {
	return s.revoke(ctx, accountID, keepID)
}

// revoke deletes, one by one by _id, the sessions the account's index
// lists, except keep, and then drops them from the index.
func (s Sessions) revoke(ctx context.Context, accountID, keep string) error {
	var d accountSessionsDoc
	err := s.db.Collection(colAccountSessions).FindOne(ctx, bson.D{{Key: "_id", Value: accountID}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: revoke sessions: %w", err)
	}
	var gone []string
	for _, id := range d.IDs {
		if id == keep {
			continue
		}
		if _, err := s.wdb.Collection(colSessions).DeleteOne(ctx, bson.D{{Key: "_id", Value: id}}); err != nil {
			return fmt.Errorf("store: revoke sessions: %w", err)
		}
		gone = append(gone, id)
	}
	if len(gone) == 0 {
		return nil
	}
	_, err = s.wdb.Collection(colAccountSessions).UpdateOne(ctx, bson.D{{Key: "_id", Value: accountID}},
		bson.D{{Key: "$pull", Value: bson.D{{Key: "ids", Value: bson.D{{Key: "$in", Value: gone}}}}}})
	if err != nil {
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
	err := s.insertOne(ctx, colSessions, sessionDoc{ID: x.ID, AccountID: x.AccountID,
		CreatedAt: x.CreatedAt, SeenAt: x.SeenAt, ExpiresAt: x.ExpiresAt, AbsoluteEnd: x.AbsoluteEnd})
	if err != nil {
		return fmt.Errorf("store: create session: %w", err)
	}
	_, err = s.wdb.Collection(colAccountSessions).UpdateOne(ctx, bson.D{{Key: "_id", Value: x.AccountID}},
		bson.D{{Key: "$addToSet", Value: bson.D{{Key: "ids", Value: x.ID}}}}, options.UpdateOne().SetUpsert(true))
	if err != nil {
		return fmt.Errorf("store: index session: %w", err)
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

// DeleteSession ends one session (a sign-out), drops it from its
// account's index, and returns the account ("" when there was none). Sessions that simply expire stay listed there until the
// account's next revocation, which deletes whatever it lists.
func (s Sessions) DeleteSession(ctx context.Context, id string) (string, error) {
	var d sessionDoc
	err := s.db.Collection(colSessions).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("store: delete session: %w", err)
	}
	if _, err := s.wdb.Collection(colSessions).DeleteOne(ctx, bson.D{{Key: "_id", Value: id}}); err != nil {
		return "", fmt.Errorf("store: delete session: %w", err)
	}
	_, err = s.wdb.Collection(colAccountSessions).UpdateOne(ctx, bson.D{{Key: "_id", Value: d.AccountID}},
		bson.D{{Key: "$pull", Value: bson.D{{Key: "ids", Value: id}}}})
	if err != nil {
		return "", fmt.Errorf("store: delete session: %w", err)
	}
	return d.AccountID, nil
}

// listSessionsOnce lists, per account, the sessions a version without
// account_sessions created, once per database (a marker in meta says it is
// done): otherwise a password reset would leave them open until they
// expire.
func (s *Store) listSessionsOnce(ctx context.Context) error {
	const marker = "account_sessions_listed"
	n, err := s.db.Collection(colMeta).CountDocuments(ctx, bson.D{{Key: "_id", Value: marker}})
	if err != nil || n > 0 {
		return err
	}
	cur, err := s.db.Collection(colSessions).Find(ctx, bson.D{}, options.Find().SetProjection(bson.D{{Key: "accountId", Value: 1}}))
	if err != nil {
		return fmt.Errorf("store: list sessions: %w", err)
	}
	var docs []sessionDoc
	if err := cur.All(ctx, &docs); err != nil {
		return fmt.Errorf("store: list sessions: %w", err)
	}
	for _, d := range docs {
		_, err := s.wdb.Collection(colAccountSessions).UpdateOne(ctx, bson.D{{Key: "_id", Value: d.AccountID}},
			bson.D{{Key: "$addToSet", Value: bson.D{{Key: "ids", Value: d.ID}}}}, options.UpdateOne().SetUpsert(true))
		if err != nil {
			return fmt.Errorf("store: list sessions: %w", err)
		}
	}
	if err := s.insertOne(ctx, colMeta, bson.D{{Key: "_id", Value: marker}}); err != nil && !mongo.IsDuplicateKeyError(err) {
		return fmt.Errorf("store: list sessions: %w", err)
	}
	return nil
}

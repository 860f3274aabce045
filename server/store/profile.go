package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/sesame-edu/sesame/server/account"
)

const colEmailChanges = "email_changes"

func profileIndexes() []index {
	return []index{
		{colEmailChanges, mongo.IndexModel{Keys: bson.D{{Key: "expiresAt", Value: 1}}, Options: options.Index().SetExpireAfterSeconds(0)}},
	}
}

type emailChangeDoc struct {
	ID        string    `bson:"_id"`
	AccountID string    `bson:"accountId"`
	Email     string    `bson:"email"`
	Lang      string    `bson:"lang"`
	Cancels   string    `bson:"cancels,omitempty"`
	CreatedAt time.Time `bson:"createdAt"`
	ExpiresAt time.Time `bson:"expiresAt"`
}

func (d emailChangeDoc) change() account.EmailChange {
	return account.EmailChange{ID: d.ID, AccountID: d.AccountID, Email: d.Email, Lang: d.Lang, Cancels: d.Cancels, CreatedAt: utc(d.CreatedAt), ExpiresAt: utc(d.ExpiresAt)}
}

// CreateEmailChange stores a pending address, keyed by the hash of its
// link's token.
func (s Accounts) CreateEmailChange(ctx context.Context, c account.EmailChange) error {
	err := s.insertOne(ctx, colEmailChanges, emailChangeDoc{ID: c.ID, AccountID: c.AccountID, Email: c.Email, Lang: c.Lang, Cancels: c.Cancels, CreatedAt: c.CreatedAt, ExpiresAt: c.ExpiresAt})
	if err != nil {
		return fmt.Errorf("store: create e-mail change: %w", err)
	}
	return nil
}

// TakeEmailChange returns a live change and deletes it. The claim makes
// the link single-use even when two requests race on the embedded server.
func (s Accounts) TakeEmailChange(ctx context.Context, id string) (account.EmailChange, error) {
	var d emailChangeDoc
	err := s.db.Collection(colEmailChanges).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) || (err == nil && !d.ExpiresAt.After(s.now())) {
		return account.EmailChange{}, account.ErrEmailChangeNotFound
	}
	if err != nil {
		return account.EmailChange{}, fmt.Errorf("store: e-mail change: %w", err)
	}
	ok, err := s.claim(ctx, "email|"+id, d.ExpiresAt)
	if err != nil {
		return account.EmailChange{}, err
	}
	if !ok {
		return account.EmailChange{}, account.ErrEmailChangeNotFound
	}
	if _, err := s.wdb.Collection(colEmailChanges).DeleteOne(ctx, bson.D{{Key: "_id", Value: id}}); err != nil {
		return account.EmailChange{}, fmt.Errorf("store: e-mail change: %w", err)
	}
	return d.change(), nil
}

// PeekEmailChange tells whether a link is live, without using it (the GET
// of the confirmation page).
func (s Accounts) PeekEmailChange(ctx context.Context, id string) (account.EmailChange, error) {
	var d emailChangeDoc
	err := s.db.Collection(colEmailChanges).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) || (err == nil && !d.ExpiresAt.After(s.now())) {
		return account.EmailChange{}, account.ErrEmailChangeNotFound
	}
	if err != nil {
		return account.EmailChange{}, fmt.Errorf("store: e-mail change: %w", err)
	}
	return d.change(), nil
}

// SweepEmailChanges deletes expired links.
func (s *Store) SweepEmailChanges(ctx context.Context, now time.Time) (int, error) {
	return s.sweep(ctx, colEmailChanges, "expiresAt", now)
}

// UpdatePasswordHash stores a hash upgraded to the current parameters,
// without touching who set the password or when.
func (s Accounts) UpdatePasswordHash(ctx context.Context, id, hash string) error {
	_, err := s.wdb.Collection(colAccounts).UpdateOne(ctx, bson.D{{Key: "_id", Value: id}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "passwordHash", Value: hash}}}})
	if err != nil {
		return fmt.Errorf("store: rehash: %w", err)
	}
	return nil
}

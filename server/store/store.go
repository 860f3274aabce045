// Package store keeps Sésame's data in MongoDB through the official driver.
//
// The same code path serves a real MongoDB (SESAME_MONGODB_URI) and the
// embedded FerretDB started by OpenEmbedded. Because the embedded server
// scans whole collections, has no TTL indexes and no transactions, every hot
// lookup here goes by a string _id, every write is a single-document atomic
// operation, and expired documents are also swept by the program.
package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
)

// Collection names, in one place so that the index list and the code agree.
const (
	colAccounts = "accounts"
	colEmails   = "account_emails"
	colMeta     = "meta"
)

// Store is a connected database. Close it when done.
type Store struct {
	client   *mongo.Client
	db       *mongo.Database
	log      *slog.Logger
	embedded *Embedded
	now      func() time.Time
}

// Connect opens a client on uri and checks that the server answers.
func Connect(ctx context.Context, uri, database string, log *slog.Logger) (*Store, error) {
	return connect(ctx, uri, database, log, 5*time.Second)
}

func connect(ctx context.Context, uri, database string, log *slog.Logger, wait time.Duration) (*Store, error) {
	opts := options.Client().ApplyURI(uri).
		SetAppName("sesame").
		SetServerSelectionTimeout(wait).
		SetConnectTimeout(5 * time.Second).
		SetTimeout(10 * time.Second)
	client, err := mongo.Connect(opts)
	if err != nil {
		return nil, fmt.Errorf("store: connect: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 2*wait)
	defer cancel()
	if err := client.Ping(pctx, readpref.Primary()); err != nil {
		_ = client.Disconnect(context.Background())
		return nil, fmt.Errorf("store: ping: %w", err)
	}
	return &Store{client: client, db: client.Database(database), log: log, now: time.Now}, nil
}

// Close disconnects the client and stops the embedded server, if any.
func (s *Store) Close(ctx context.Context) error {
	err := s.client.Disconnect(ctx)
	if s.embedded != nil {
		s.embedded.Stop()
	}
	return err
}

// Embedded reports whether the store is the in-process server.
func (s *Store) Embedded() bool { return s.embedded != nil }

// Ping checks that the database answers; /readyz uses it.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.client.Ping(ctx, readpref.Primary()); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

// SetClock replaces the clock, for tests of expiry.
func (s *Store) SetClock(now func() time.Time) { s.now = now }

// errNotImplemented is the server code FerretDB v1 answers for TTL indexes.
const errNotImplemented = 238

// index describes one index to create at start.
type index struct {
	collection string
	model      mongo.IndexModel
}

// EnsureIndexes creates every collection's indexes. It is idempotent, so it
// runs at every start. TTL indexes are created too: a real MongoDB uses them,
// and the embedded server, which refuses them, is covered by Sweep.
func (s *Store) EnsureIndexes(ctx context.Context) error {
	for _, ix := range indexes() {
		_, err := s.db.Collection(ix.collection).Indexes().CreateOne(ctx, ix.model)
		var ce mongo.CommandError
		if errors.As(err, &ce) && ce.Code == errNotImplemented {
			s.log.Debug("index not supported by this server; the sweeper covers it", "collection", ix.collection)
			continue
		}
		if err != nil {
			return fmt.Errorf("store: create index on %s: %w", ix.collection, err)
		}
	}
	return nil
}

// indexes lists the secondary indexes. Hot lookups use _id, so this list is
// short on purpose.
func indexes() []index {
	return []index{
		{colAccounts, mongo.IndexModel{Keys: bson.D{{Key: "population", Value: 1}}}},
	}
}

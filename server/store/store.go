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
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
)

// Collection names, in one place so that the index list and the code agree.
const (
	colAccounts = "accounts"
	colEmails   = "account_emails"
	// colChildren lists, per guardian, the accounts naming them as a
	// guardian (see childrenDoc).
	colChildren = "account_children"
	// colSubjects settles the subject id of an account created before
	// subject ids existed (see AssignSubject).
	colSubjects = "account_subjects"
	colMeta     = "meta"
	// colOutbox holds sealed mails until delivery; colOutboxClaims records
	// which worker claimed each delivery attempt (see ClaimOutbox).
	colOutbox       = "mail_outbox"
	colOutboxClaims = "mail_outbox_claims"
	// colOutboxLog keeps the trace of each mail sent or given up, for a
	// day, out of the outbox the workers poll.
	colOutboxLog = "mail_outbox_log"
)

// Store is a connected database. Close it when done.
type Store struct {
	client *mongo.Client
	db     *mongo.Database
	// wdb takes the writes. On FerretDB (the embedded server or another)
	// it is a client with a single connection. FerretDB v1 runs every
	// update as a read followed by a rewrite of the whole document, so two
	// updates of different fields sent on two connections can undo each
	// other (over PostgreSQL, 8 of 11 concurrent patches of one account
	// were lost); one connection makes this process's writes take turns.
	// On SQLite it also helps throughput: SQLite has one writer, and
	// writers queued here wait their turn in Go instead of sleeping in
	// SQLite's busy handler (1, 2, 5 … 100 ms), which left a core idle
	// under load. On MongoDB, whose updates are atomic, it is db.
	wdb      *mongo.Database
	wclient  *mongo.Client
	log      *slog.Logger
	embedded *Embedded
	now      func() time.Time
	// hw is the rate limits' in-process high-water marks (see Hit).
	hwMu sync.Mutex
	hw   map[string]int
	// emailLocks serialise this process's writes to one address's index
	// entry (see addEmail).
	emailLocks [64]sync.Mutex
	// ins groups concurrent inserts into one command (FerretDB only; see
	// inserts and insertOne).
	ins *inserts
	// observer, when set, is told of every command sent (see Observe).
	observer atomic.Pointer[func(Command)]
}

// Command is what Observe reports of one command sent to the database.
type Command struct {
	Name       string // find, insert, update, delete, findAndModify…
	Collection string
	// ByID is false when the command selects documents by anything but
	// exactly {_id: <value>}: the embedded store then reads and decodes
	// the whole collection.
	ByID bool
	// Docs is how many documents an insert carries (see inserts).
	Docs int
}

// String is "find accounts", or "find accounts (scan)" for a filter that
// is not exactly by _id.
func (c Command) String() string {
	if c.ByID {
		return c.Name + " " + c.Collection
	}
	return c.Name + " " + c.Collection + " (scan)"
}

// Observe has f told of every command this store sends from now on, until
// the returned function is called. Tests use it to check that two requests
// do the same work whatever was typed (same commands on the same
// collections, in the same order), and that no request reads a whole
// collection: unlike timing, a count does not depend on the machine's load.
func (s *Store) Observe(f func(Command)) (stop func()) {
	s.observer.Store(&f)
	return func() { s.observer.Store(nil) }
}

// monitor reports commands to the observer; one atomic load per command
// when nobody observes.
func (s *Store) monitor() *event.CommandMonitor {
	return &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		f := s.observer.Load()
		if f == nil {
			return
		}
		c := Command{Name: e.CommandName}
		if v, err := e.Command.LookupErr(e.CommandName); err == nil {
			c.Collection, _ = v.StringValueOK()
		}
		c.ByID = byID(e.CommandName, e.Command)
		if e.CommandName == "insert" {
			if docs, ok := e.Command.Lookup("documents").ArrayOK(); ok {
				if vals, err := docs.Values(); err == nil {
					c.Docs = len(vals)
				}
			}
		}
		(*f)(c)
	}}
}

// byID reports whether a command selects its documents by exactly one _id
// (inserts select nothing; commands this package does not send count as
// scans).
func byID(name string, cmd bson.Raw) bool {
	var filter bson.Raw
	switch name {
	case "insert", "ping", "buildInfo", "listCollections", "createIndexes", "create", "endSessions", "hello", "isMaster":
		return true
	case "find":
		filter, _ = cmd.Lookup("filter").DocumentOK()
	case "findAndModify", "count":
		filter, _ = cmd.Lookup("query").DocumentOK()
	case "update", "delete":
		// The statements: the driver hands the monitor its document
		// sequence as an array.
		stmts, ok := cmd.Lookup(name + "s").ArrayOK()
		if !ok {
			return false
		}
		vals, err := stmts.Values()
		if err != nil || len(vals) != 1 {
			return false
		}
		stmt, _ := vals[0].DocumentOK()
		filter, _ = stmt.Lookup("q").DocumentOK()
	default:
		return false
	}
	elems, err := filter.Elements()
	if err != nil || len(elems) != 1 || elems[0].Key() != "_id" {
		return false
	}
	_, isDoc := elems[0].Value().DocumentOK()
	return !isDoc
}

// Connect opens a client on uri and checks that the server answers.
func Connect(ctx context.Context, uri, database string, log *slog.Logger) (*Store, error) {
	return connect(ctx, uri, database, log, 5*time.Second)
}

func connect(ctx context.Context, uri, database string, log *slog.Logger, wait time.Duration) (*Store, error) {
	s := &Store{log: log, now: time.Now}
	opts := options.Client().ApplyURI(uri).SetMonitor(s.monitor()).
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
	db := client.Database(database)
	s.client, s.db, s.wdb = client, db, db
	ferret, err := isFerretDB(pctx, client)
	if err == nil && ferret {
		err = s.serialiseWrites(ctx, uri, database)
	}
	if err != nil {
		_ = client.Disconnect(context.Background())
		return nil, err
	}
	return s, nil
}

// isFerretDB reports whether the server is FerretDB, which adds its own
// version to MongoDB's buildInfo answer.
func isFerretDB(ctx context.Context, client *mongo.Client) (bool, error) {
	var info bson.M
	if err := client.Database("admin").RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Decode(&info); err != nil {
		return false, fmt.Errorf("store: build info: %w", err)
	}
	_, ok := info["ferretdbVersion"]
	return ok, nil
}

// writeTimeout bounds each write on FerretDB's one writer connection.
const writeTimeout = 10 * time.Second

// serialiseWrites routes writes through a one-connection client (FerretDB
// only, see Store.wdb).
func (s *Store) serialiseWrites(ctx context.Context, uri, database string) error {
	wc, err := mongo.Connect(options.Client().ApplyURI(uri).SetAppName("sesame-writer").SetMonitor(s.monitor()).
		SetMaxPoolSize(1).SetServerSelectionTimeout(5 * time.Second).SetTimeout(writeTimeout))
	if err != nil {
		return fmt.Errorf("store: connect writer: %w", err)
	}
	s.wclient, s.wdb = wc, wc.Database(database)
	s.ins = newInserts(s.wdb, writeTimeout)
	return nil
}

// Close disconnects the client and stops the embedded server, if any.
func (s *Store) Close(ctx context.Context) error {
	if s.ins != nil {
		s.ins.close()
	}
	err := s.client.Disconnect(ctx)
	if s.wclient != nil {
		_ = s.wclient.Disconnect(ctx)
	}
	if s.embedded != nil {
		s.embedded.Stop()
	}
	return err
}

// insertOne inserts doc into col through the writer, grouped with the
// inserts that wait alongside it on FerretDB (see inserts).
func (s *Store) insertOne(ctx context.Context, col string, doc any) error {
	if s.ins != nil {
		return s.ins.insert(ctx, col, doc)
	}
	_, err := s.wdb.Collection(col).InsertOne(ctx, doc)
	return err
}

// Embedded reports whether the store is the in-process server.
func (s *Store) Embedded() bool { return s.embedded != nil }

// DB exposes the database to tests that check what is (not) stored.
func (s *Store) DB() *mongo.Database { return s.db }

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
// and the embedded server, which refuses them, is covered by Sweep. On the
// embedded server it also creates every collection, then the SQLite indexes
// that FerretDB's lookups by _id need (see IndexIDs). On any FerretDB it
// creates every collection first: FerretDB creates a collection's table
// at its first write, and two first writes at once race (over PostgreSQL
// one of them fails, « relation already exists »).
//
// It sends one command per collection at most (two for the first TTL index
// a server refuses): a collection's indexes go in one createIndexes, which
// also creates the collection; once the server has refused a TTL index the
// others are not asked for; a collection without an index the server keeps
// is created by itself, only when missing. A fresh database takes 33
// commands on the embedded server, a restart 12 (59 and 30 before), which
// every test and every start pays.
func (s *Store) EnsureIndexes(ctx context.Context) error {
	ferret := s.embedded != nil || s.wclient != nil
	var have []string
	if ferret {
		var err error
		if have, err = s.wdb.ListCollectionNames(ctx, bson.D{}); err != nil {
			return fmt.Errorf("store: list collections: %w", err)
		}
	}
	names := collections()
	models := map[string][]mongo.IndexModel{}
	for _, ix := range allIndexes() {
		if !slices.Contains(names, ix.collection) {
			names = append(names, ix.collection)
		}
		models[ix.collection] = append(models[ix.collection], ix.model)
	}
	ttlRefused := false
	for _, c := range names {
		ms := models[c]
		if ttlRefused {
			ms = withoutTTL(ms)
		}
		err := s.createIndexes(ctx, c, ms)
		var ce mongo.CommandError
		if kept := withoutTTL(ms); errors.As(err, &ce) && ce.Code == errNotImplemented && len(kept) < len(ms) {
			ttlRefused = true
			s.log.Debug("TTL indexes not supported by this server; the sweeper covers them", "collection", c)
			ms = kept
			err = s.createIndexes(ctx, c, ms)
		}
		if err != nil {
			return err
		}
		// createIndexes created the collection; without an index, a
		// collection FerretDB does not have is created by itself.
		if len(ms) > 0 || !ferret || slices.Contains(have, c) {
			continue
		}
		err = s.wdb.CreateCollection(ctx, c)
		if err != nil && !(errors.As(err, &ce) && ce.Code == errNamespaceExists) {
			return fmt.Errorf("store: create collection %s: %w", c, err)
		}
	}
	if err := s.listSessionsOnce(ctx); err != nil {
		return err
	}
	n, err := s.IndexIDs(ctx)
	if n > 0 {
		s.log.Debug("SQLite _id indexes created", "tables", n)
	}
	return err
}

// indexes lists the secondary indexes. Hot lookups use _id, so this list is
// short on purpose.
func indexes() []index {
	return []index{
		{colAccounts, mongo.IndexModel{Keys: bson.D{{Key: "population", Value: 1}}}},
		// Workers poll for due messages; the outbox is otherwise read by _id.
		{colOutbox, mongo.IndexModel{Keys: bson.D{{Key: "status", Value: 1}, {Key: "nextAttemptAt", Value: 1}}}},
		{colOutbox, mongo.IndexModel{Keys: bson.D{{Key: "purgeAt", Value: 1}}, Options: options.Index().SetExpireAfterSeconds(0)}},
		{colOutboxClaims, mongo.IndexModel{Keys: bson.D{{Key: "purgeAt", Value: 1}}, Options: options.Index().SetExpireAfterSeconds(0)}},
		{colOutboxLog, mongo.IndexModel{Keys: bson.D{{Key: "purgeAt", Value: 1}}, Options: options.Index().SetExpireAfterSeconds(0)}},
		{colOutboxLog, mongo.IndexModel{Keys: bson.D{{Key: "accountId", Value: 1}}}},
	}
}

// allIndexes is every collection's indexes, created at start.
func allIndexes() []index {
	var all []index
	for _, l := range [][]index{indexes(), claimIndexes(), recoveryIndexes(), rateLimitIndexes(), throttleIndexes(), auditIndexes(), sessionIndexes(), profileIndexes(), activationIndexes(), casIndexes(), oidcIndexes()} {
		all = append(all, l...)
	}
	return all
}

// createIndexes creates ms on collection c in one command (none when ms
// is empty).
func (s *Store) createIndexes(ctx context.Context, c string, ms []mongo.IndexModel) error {
	if len(ms) == 0 {
		return nil
	}
	if _, err := s.wdb.Collection(c).Indexes().CreateMany(ctx, ms); err != nil {
		return fmt.Errorf("store: create indexes on %s: %w", c, err)
	}
	return nil
}

// withoutTTL leaves out the TTL indexes of ms.
func withoutTTL(ms []mongo.IndexModel) []mongo.IndexModel {
	var out []mongo.IndexModel
	for _, m := range ms {
		if !isTTL(m) {
			out = append(out, m)
		}
	}
	return out
}

// isTTL tells a TTL index (one with expireAfterSeconds).
func isTTL(m mongo.IndexModel) bool {
	if m.Options == nil {
		return false
	}
	var o options.IndexOptions
	for _, set := range m.Options.List() {
		if err := set(&o); err != nil {
			return false
		}
	}
	return o.ExpireAfterSeconds != nil
}

// Sweep deletes every expired document, for servers without TTL indexes
// (the embedded one). It is cheap enough to run every minute.
func (s *Store) Sweep(ctx context.Context, now time.Time) (int, error) {
	total := 0
	for _, f := range []func(context.Context, time.Time) (int, error){
		s.SweepFlows, s.SweepRateLimits, s.SweepClaims, s.SweepAudit, s.SweepSessions, s.SweepThrottle, s.SweepEmailChanges, s.SweepActivations, s.SweepCAS, s.SweepOIDC,
	} {
		n, err := f(ctx, now)
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

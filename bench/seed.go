package main

import (
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	mongoopts "go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/sesame-edu/sesame/server/account"
	"github.com/sesame-edu/sesame/server/store"
)

// person is one account of the generated school.
type person struct {
	ID         string // normalised identifier
	Identifier string
	Email      string
	First      string
	Last       string
	Population string
	Password   string // as imported
	Household  int    // index in school.households when the address is shared, else -1
}

// schoolData is a generated school: accounts, and the addresses several
// accounts share (a parent with several children).
type schoolData struct {
	people     []person
	households [][]int // indices of people sharing one address (2 or 3)
}

var (
	firstNames = []string{"Léo", "Chloé", "Éloïse", "Noé", "Inès", "Lucas", "Zoé", "Mathéo", "Anaïs", "Hugo", "Maël",
		"Camille", "Jérôme", "Sophie", "Nathalie", "Karim", "Yasmine", "Thibault", "Aurélie", "François", "Hélène", "Manon"}
	lastNames = []string{"Martin", "Bernard", "Dubois", "Lefèvre", "Moreau", "Garcia", "Roux", "Fournier", "Girard",
		"Mercier", "Bonnet", "Lambert", "Faure", "Rousseau", "N'Diaye", "Benali", "Nguyen", "Da Silva", "Perrin", "Marchand"}
)

// populations and their share of a school's accounts.
var populationMix = []struct {
	key    string
	prefix string
	share  float64
}{
	{"parents", "P", 0.50},
	{"students", "E", 0.35},
	{"staff", "S", 0.08},
	{"contract-staff", "C", 0.05},
	{"officials", "O", 0.02},
}

// generate builds n accounts, always the same for the same n. Parents'
// addresses are shared by 2 or 3 accounts in a quarter of households; a
// fifth of students have no address at all (no code can be mailed to
// them, as in real schools), the others their own.
func generate(n int) *schoolData {
	r := rand.New(rand.NewPCG(uint64(n), 2026))
	sd := &schoolData{}
	id := 0
	counts := make([]int, len(populationMix))
	rest := n
	for i := 1; i < len(populationMix); i++ {
		counts[i] = int(float64(n)*populationMix[i].share + 0.5)
		rest -= counts[i]
	}
	counts[0] = rest // parents take the rounding
	for pi, pm := range populationMix {
		count := counts[pi]
		for i := 0; i < count && len(sd.people) < n; {
			size := 1
			if pm.key == "parents" {
				switch x := r.Float64(); {
				case x < 0.05:
					size = 3
				case x < 0.25:
					size = 2
				}
				size = min(size, count-i)
			}
			first, last := firstNames[r.IntN(len(firstNames))], lastNames[r.IntN(len(lastNames))]
			email := mailLocal(first) + "." + mailLocal(last) + fmt.Sprintf(".%d@", id) + "famille.example"
			switch pm.key {
			case "students":
				email = fmt.Sprintf("eleve.%d@eleves.lycee-pmf.example", id)
				if r.Float64() < 0.2 {
					email = ""
				}
			case "staff", "contract-staff":
				email = fmt.Sprintf("%s.%s.%d@lycee-pmf.example", mailLocal(first), mailLocal(last), id)
			case "officials":
				email = fmt.Sprintf("elu.%d@region.example", id)
			}
			hh := -1
			if size > 1 {
				hh = len(sd.households)
				sd.households = append(sd.households, nil)
			}
			for k := 0; k < size; k++ {
				ident := fmt.Sprintf("%s%06d", pm.prefix, id)
				p := person{
					ID: account.NormaliseIdentifier(ident), Identifier: ident, Email: email,
					First: first, Last: last, Population: pm.key,
					Password: fmt.Sprintf("Rentree-%d-%s", 2026, ident), Household: hh,
				}
				if hh >= 0 {
					sd.households[hh] = append(sd.households[hh], len(sd.people))
				}
				sd.people = append(sd.people, p)
				id++
				i++
			}
		}
	}
	return sd
}

func mailLocal(s string) string {
	repl := strings.NewReplacer("é", "e", "è", "e", "ë", "e", "É", "e", "ï", "i", "ç", "c", "'", "", " ", "-")
	return strings.ToLower(repl.Replace(s))
}

func (sd *schoolData) writeCSV(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	_ = w.Write([]string{"identifier", "email", "first_name", "last_name", "population", "password"})
	for _, p := range sd.people {
		_ = w.Write([]string{p.Identifier, p.Email, p.First, p.Last, p.Population, p.Password})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// seedMethod says how a template data directory was filled.
type seedMethod string

const (
	// seedImport runs `sesame accounts import` on a CSV: the real path,
	// argon2id for every row (about 30 ms each on these cores).
	seedImport seedMethod = "import"
	// seedDirect writes the same accounts through the store package in
	// bulk, all with one precomputed argon2id hash of sharedPassword.
	seedDirect seedMethod = "direct"
)

// sharedPassword is the password of every account seeded directly.
const sharedPassword = "Rentree-2026-bench"

// template returns a data directory holding n accounts, made once per
// binary, size and method, and kept in cacheDir for later runs ("" keeps
// it in tmp for this invocation only). Each run copies it into a fresh
// SESAME_DATA_DIR.
func template(binary, config, cacheDir, tmp string, n int, method seedMethod) (string, error) {
	sum, err := fileHash(binary)
	if err != nil {
		return "", err
	}
	cfgSum, err := fileHash(config)
	if err != nil {
		return "", err
	}
	root := tmp
	if cacheDir != "" {
		root = cacheDir
	}
	dir := filepath.Join(root, fmt.Sprintf("school-%s-%s-n%d-%s-v1", sum[:12], cfgSum[:8], n, method))
	if _, err := os.Stat(filepath.Join(dir, "complete")); err == nil {
		logf("seed: reusing %d accounts (%s) from %s", n, method, dir)
		return dir, nil
	}
	_ = os.RemoveAll(dir)
	work := dir + ".partial"
	_ = os.RemoveAll(work)
	if err := os.MkdirAll(work, 0o700); err != nil {
		return "", err
	}
	sd := generate(n)
	start := time.Now()
	switch method {
	case seedImport:
		csvPath := filepath.Join(tmp, fmt.Sprintf("accounts-%d.csv", n))
		if err := sd.writeCSV(csvPath); err != nil {
			return "", err
		}
		logf("seed: importing %d accounts with `sesame accounts import` (argon2id per row; about a minute per 2,000)…", n)
		cmd := exec.Command(binary, "accounts", "import", csvPath)
		cmd.Env = append(baseEnv(), "SESAME_DATA_DIR="+work, "SESAME_CONFIG="+config)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("import: %v\n%s", err, out)
		}
		logf("seed: %s", strings.TrimSpace(string(out)))
	case seedDirect:
		logf("seed: writing %d accounts directly through the store (one shared argon2id hash)…", n)
		if err := seedStore(work, sd); err != nil {
			return "", err
		}
	}
	logf("seed: %d accounts in %s", n, time.Since(start).Round(100*time.Millisecond))
	for _, f := range []string{"secret.key", "mongodb.sock"} {
		_ = os.Remove(filepath.Join(work, f))
	}
	if err := os.WriteFile(filepath.Join(work, "complete"), []byte(time.Now().Format(time.RFC3339)), 0o600); err != nil {
		return "", err
	}
	if err := os.Rename(work, dir); err != nil {
		return "", err
	}
	return dir, nil
}

func fileHash(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// seedStore writes sd's accounts into an embedded store in dir.
//
// store.SaveAccount is the obvious way, but on the embedded store every
// write by _id scans its collection (see /work/shared/README.md), so n
// saves cost O(n²): hours for 50,000. Instead one marker account is saved
// through SaveAccount, its stored documents (account and address index)
// are read back as the format to copy, every other account is inserted in
// bulk (an insert does not scan), and a sample is read back through
// GetAccount and AccountsByEmail to prove the copies are what the store
// itself would have written.
func seedStore(dir string, sd *schoolData) error {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.OpenEmbedded(ctx, dir, "sesame", log)
	if err != nil {
		return err
	}
	defer st.Close(context.Background())
	if err := st.EnsureIndexes(ctx); err != nil {
		return err
	}
	hash, err := account.NewHasher(account.DefaultParams(), runtime.NumCPU()).Hash(sharedPassword)
	if err != nil {
		return err
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	const (
		mID, mIdent, mEmail = "zz-marker-id", "ZZ-Marker-Id", "zz-marker@marker.example"
		mFirst, mLast, mPop = "MarkerFirst", "MarkerLast", "marker-population"
	)
	marker := account.Account{
		ID: mID, Identifier: mIdent, Email: mEmail, FirstName: mFirst, LastName: mLast, Population: mPop,
		Status: account.StatusActive, PasswordHash: hash, PasswordSetBy: account.SetByImport, CreatedAt: now, UpdatedAt: now,
	}
	if err := st.Accounts().SaveAccount(ctx, marker, ""); err != nil {
		return err
	}
	db := st.DB()
	var accTpl, mailTpl bson.D
	if err := db.Collection("accounts").FindOne(ctx, bson.D{{Key: "_id", Value: mID}}).Decode(&accTpl); err != nil {
		return fmt.Errorf("read marker account (has the accounts collection been renamed?): %w", err)
	}
	if err := db.Collection("account_emails").FindOne(ctx, bson.D{{Key: "_id", Value: mEmail}}).Decode(&mailTpl); err != nil {
		return fmt.Errorf("read marker address (has the account_emails collection been renamed?): %w", err)
	}
	for _, c := range []string{"accounts", "account_emails"} {
		if _, err := db.Collection(c).DeleteMany(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: bson.A{mID, mEmail}}}}}); err != nil {
			return err
		}
	}
	// subst copies a marker document, replacing values (not keys), so that
	// whatever the store names its fields, the copy follows.
	subst := func(tpl bson.D, repl map[string]any) bson.D {
		out := make(bson.D, 0, len(tpl))
		for _, e := range tpl {
			v := e.Value
			switch x := v.(type) {
			case string:
				if r, ok := repl[x]; ok {
					v = r
				}
			case bson.A:
				if len(x) == 1 {
					if s, ok := x[0].(string); ok {
						if r, ok := repl["[]"+s]; ok {
							v = r
						}
					}
				}
			}
			out = append(out, bson.E{Key: e.Key, Value: v})
		}
		return out
	}
	emails := map[string][]string{} // address → ids, in order
	var order []string
	var batch []any
	flush := func(col string) error {
		if len(batch) == 0 {
			return nil
		}
		_, err := db.Collection(col).InsertMany(ctx, batch, mongoopts.InsertMany().SetOrdered(false))
		batch = batch[:0]
		return err
	}
	for _, p := range sd.people {
		doc := subst(accTpl, map[string]any{mID: p.ID, mIdent: p.Identifier, mEmail: p.Email, mFirst: p.First, mLast: p.Last, mPop: p.Population})
		if p.Email == "" {
			doc = dropEmpty(doc)
		}
		batch = append(batch, doc)
		if len(batch) == 1000 {
			if err := flush("accounts"); err != nil {
				return err
			}
		}
		if p.Email != "" {
			k := account.NormaliseEmail(p.Email)
			if _, ok := emails[k]; !ok {
				order = append(order, k)
			}
			emails[k] = append(emails[k], p.ID)
		}
	}
	if err := flush("accounts"); err != nil {
		return err
	}
	for _, k := range order {
		ids := bson.A{}
		for _, id := range emails[k] {
			ids = append(ids, id)
		}
		batch = append(batch, subst(mailTpl, map[string]any{mEmail: k, "[]" + mID: ids}))
		if len(batch) == 1000 {
			if err := flush("account_emails"); err != nil {
				return err
			}
		}
	}
	if err := flush("account_emails"); err != nil {
		return err
	}
	// Read a sample back through the store's own code.
	for i := 0; i < len(sd.people); i += max(1, len(sd.people)/20) {
		p := sd.people[i]
		a, err := st.Accounts().GetAccount(ctx, p.ID)
		if err != nil {
			return fmt.Errorf("seed check: %s: %w", p.ID, err)
		}
		if a.Identifier != p.Identifier || a.Email != p.Email || a.Population != p.Population || a.Status != account.StatusActive {
			return fmt.Errorf("seed check: %s read back as %+v", p.ID, a)
		}
		if ok, _, err := account.NewHasher(account.DefaultParams(), 1).Verify(a.PasswordHash, sharedPassword); err != nil || !ok {
			return fmt.Errorf("seed check: %s: password hash not readable (%v)", p.ID, err)
		}
		if p.Email != "" {
			as, err := st.Accounts().AccountsByEmail(ctx, p.Email)
			if err != nil || len(as) != len(emails[account.NormaliseEmail(p.Email)]) {
				return fmt.Errorf("seed check: address of %s: %d accounts, %v", p.ID, len(as), err)
			}
		}
	}
	if n, err := st.Accounts().CountAccounts(ctx); err != nil || n != int64(len(sd.people)) {
		return fmt.Errorf("seed check: %d accounts stored, want %d (%v)", n, len(sd.people), err)
	}
	return nil
}

// dropEmpty removes a field left empty by the copy (the marker had an
// address; an account without one stores none).
func dropEmpty(d bson.D) bson.D {
	out := d[:0:0]
	for _, e := range d {
		if s, ok := e.Value.(string); ok && s == "" {
			continue
		}
		out = append(out, e)
	}
	return out
}

package web_test

import (
	"slices"
	"strings"
	"testing"
	"time"
	_ "time/tzdata"

	"github.com/PuerkitoBio/goquery"

	"github.com/sesame-edu/sesame/server/app"
	"github.com/sesame-edu/sesame/server/paths"
)

func TestHelpPage(t *testing.T) {
	loc := paris(t)
	tests := []struct {
		name, path, accept string
		now                time.Time
		wantStatus         string
		wantOpen           bool
	}{
		{"support open", paths.Help, "fr", time.Date(2026, 11, 24, 10, 0, 0, 0, loc), "Ouvert maintenant, jusqu'à 17 h 30", true},
		{"support closed at night", paths.Help, "fr", time.Date(2026, 11, 24, 20, 0, 0, 0, loc), "Fermé actuellement. Prochaine ouverture : demain à 08 h 30", false},
		{"support closed on Saturday, English", paths.Help, "en", time.Date(2026, 11, 28, 10, 0, 0, 0, loc), "Closed now. Next opening: Monday November 30 at 08:30", false},
		{"parents open Tuesday afternoon", "/help/parents", "fr", time.Date(2026, 11, 24, 15, 0, 0, 0, loc), "Ouvert maintenant, jusqu'à 16 h 00", true},
		{"parents closed at 16:00 sharp", "/help/parents", "fr", time.Date(2026, 11, 24, 16, 0, 0, 0, loc), "Fermé actuellement. Prochaine ouverture : demain à 14 h 00", false},
		{"parents during the holidays", "/help/parents", "fr", time.Date(2026, 10, 20, 15, 0, 0, 0, loc), "Fermé (Vacances de la Toussaint). Prochaine ouverture : mardi 3 novembre à 14 h 00", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestApp(t, at(tt.now))
			resp := a.get(tt.path, "Accept-Language", tt.accept)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			d := doc(t, resp)
			if h1 := d.Find("h1").Text(); tt.path == "/help/parents" && tt.accept == "fr" && h1 != "Aide : Parents d'élèves" {
				t.Errorf("the page is titled %q", h1)
			}
			st := d.Find(`[data-testid="desk-status"]`)
			if got := strings.Join(strings.Fields(st.Text()), " "); !strings.HasSuffix(got, tt.wantStatus) {
				t.Errorf("status line = %q, want %q", got, tt.wantStatus)
			}
			if st.HasClass("open") != tt.wantOpen {
				t.Errorf("open class = %v, want %v", st.HasClass("open"), tt.wantOpen)
			}
			if d.Find("table.hours tr").Length() < 4 {
				t.Error("weekly hours missing")
			}
		})
	}

	a := newTestApp(t, at(time.Date(2026, 9, 1, 10, 0, 0, 0, loc)))
	d := doc(t, a.get("/help/parents"))
	if note := d.Find("table.hours .note").Text(); note != "uniquement en septembre" {
		t.Errorf("September-only note = %q", note)
	}
	if tel, _ := d.Find(`a[href^="tel:"]`).Attr("href"); tel != "tel:0467000000" {
		t.Errorf("tel link = %q", tel)
	}
	if !strings.Contains(d.Find("ul.closures").Text(), "Vacances de la Toussaint : du 17 octobre 2026 au 2 novembre 2026") {
		t.Errorf("closures = %q", d.Find("ul.closures").Text())
	}
	// The support page lists the populations with a desk of their own.
	d = doc(t, a.get(paths.Help))
	if d.Find(`a[href="/help/parents"]`).Length() != 1 {
		t.Error("the support page does not link to the parents' desk")
	}
	if resp := a.get("/help/aliens"); resp.StatusCode != 404 {
		t.Errorf("unknown population: status %d", resp.StatusCode)
	}
}

// TestHelpPageAddress: a help desk that receives people in person (an
// association's « permanences ») shows where, in the person's language;
// one without an address shows none.
func TestHelpPageAddress(t *testing.T) {
	sc := testSchool(t)
	p, _ := sc.Population("parents")
	p.Help.Addresses = map[string]string{
		"fr": "Secrétariat, bâtiment A\n1 avenue Jean Moulin\n34000 Montpellier",
		"en": "School office, building A\n1 avenue Jean Moulin\n34000 Montpellier",
	}
	a := newTestApp(t, func(o *app.Options) { o.School = sc })
	tests := []struct {
		path, lang string
		want       []string
	}{
		{"/help/parents", "fr", []string{"Secrétariat, bâtiment A", "1 avenue Jean Moulin", "34000 Montpellier"}},
		{"/help/parents", "en", []string{"School office, building A", "1 avenue Jean Moulin", "34000 Montpellier"}},
		{paths.Help, "fr", nil},
	}
	for _, tt := range tests {
		d := doc(t, a.get(tt.path, "Accept-Language", tt.lang))
		addr := d.Find(`[data-testid="desk-address"]`)
		if tt.want == nil {
			if addr.Length() != 0 {
				t.Errorf("%s: an address where none is configured: %q", tt.path, addr.Text())
			}
			continue
		}
		html, _ := addr.Html()
		if got := strings.Split(strings.TrimSpace(html), "<br/>"); len(got) != len(tt.want) {
			t.Errorf("%s (%s): address %q; want %q", tt.path, tt.lang, html, tt.want)
		}
		for _, w := range tt.want {
			if !strings.Contains(addr.Text(), w) {
				t.Errorf("%s (%s): address %q lacks %q", tt.path, tt.lang, addr.Text(), w)
			}
		}
		if label := addr.Parent().Find(".contact-label").Text(); label == "" {
			t.Errorf("%s: the address has no label", tt.path)
		}
	}
}

// TestHelpPageOthersByName: the general help page lists the populations'
// own desks by the populations' names (« Parents d'élèves »), not by the
// chooser's « Je suis … ».
func TestHelpPageOthersByName(t *testing.T) {
	a := newTestApp(t)
	d := doc(t, a.get(paths.Help, "Accept-Language", "fr"))
	var names []string
	d.Find(`ul.links a[href^="/help/"]`).Each(func(_ int, s *goquery.Selection) { names = append(names, s.Text()) })
	if len(names) == 0 || !slices.Contains(names, "Parents d'élèves") {
		t.Errorf("other desks listed as %q", names)
	}
	for _, n := range names {
		if strings.HasPrefix(n, "Je suis") {
			t.Errorf("another desk is listed by its chooser label %q", n)
		}
	}
}

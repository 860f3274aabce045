package letters

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sesame-edu/sesame/server/desk"
	"github.com/sesame-edu/sesame/server/paths"
	"github.com/sesame-edu/sesame/server/school"
)

// Translator gives the words of one language (i18n.Localizer implements
// it).
type Translator interface {
	T(id string, args ...any) string
	Lang() string
}

// Printer turns issued letters into pages: the school's file gives each
// population's help desk, the base URL the activation address.
type Printer struct {
	School   *school.Config
	BaseURL  *url.URL
	Location *time.Location
}

// Print writes the letters as one PDF on w, in t's language.
func (p Printer) Print(w interface{ Write([]byte) (int, error) }, t Translator, ls []desk.Letter) error {
	return p.PrintIncomplete(w, t, ls, 0)
}

// PrintIncomplete writes the letters of a batch that stopped partway, with
// a last page telling the office that missing accounts got no letter (and
// are unchanged) and that the letters printed are the valid ones.
func (p Printer) PrintIncomplete(w interface{ Write([]byte) (int, error) }, t Translator, ls []desk.Letter, missing int) error {
	pages := make([]Page, 0, len(ls))
	for _, l := range ls {
		pages = append(pages, p.page(t, l))
	}
	words := WordsIn(t, p.School.Letters.Name)
	if missing > 0 {
		words.Incomplete = t.T("letter.incomplete", "Count", missing, "Printed", len(ls))
	}
	return Write(w, School{Name: p.School.School.Name, Colour: p.School.School.PrimaryColor}, words, pages)
}

// WordsIn returns a letter's fixed texts in t's language; name is what
// the school calls the letter (« Sésame », « PASS'UM »).
func WordsIn(t Translator, name string) Words {
	return Words{
		Title: t.T("letter.title", "Letter", name), Intro: t.T("letter.intro"), Identifier: t.T("letter.identifier"),
		Password: t.T("letter.password"), PasswordNote: t.T("letter.password_note"),
		Activate: t.T("letter.activate"), Scan: t.T("letter.scan"),
		ValidUntil: strings.ReplaceAll(t.T("letter.valid_until", "Date", "\x00"), "\x00", "%s"),
		Help:       t.T("letter.help"), Keep: t.T("letter.keep"), Confidentially: t.T("letter.confidential"),
	}
}

func (p Printer) page(t Translator, l desk.Letter) Page {
	u := *p.BaseURL
	u.Path += paths.Activation
	loc := p.Location
	if loc == nil {
		loc = time.UTC
	}
	until := l.ValidUntil.In(loc)
	pg := Page{
		Name: l.Account.FullName(), Identifier: l.Account.Identifier, Password: l.Password,
		ActivationURL: u.String(),
		ValidUntil:    t.T("date.day_month_year", "Day", until.Day(), "Month", t.T("month."+strconv.Itoa(int(until.Month()))), "Year", until.Year()),
	}
	if pop, ok := p.School.Population(l.Account.Population); ok && pop.Help != nil {
		h := pop.Help
		pg.HelpText = h.Text(t.Lang())
		if h.Email != "" {
			pg.HelpLines = append(pg.HelpLines, t.T("letter.help_email", "Email", h.Email))
		}
		if h.Phone != "" {
			pg.HelpLines = append(pg.HelpLines, t.T("letter.help_phone", "Phone", h.Phone))
		}
		if h.URL != "" {
			pg.HelpLines = append(pg.HelpLines, h.URL)
		}
		for _, s := range h.Hours.Slots {
			pg.HelpLines = append(pg.HelpLines, fmt.Sprintf("%s %s – %s", dayName(t, s.Day), s.From, s.To))
		}
	}
	return pg
}

// dayName is a slot's day in t's language.
func dayName(t Translator, day string) string {
	for i, names := range [][2]string{{"sunday", "dimanche"}, {"monday", "lundi"}, {"tuesday", "mardi"}, {"wednesday", "mercredi"},
		{"thursday", "jeudi"}, {"friday", "vendredi"}, {"saturday", "samedi"}} {
		if d := strings.ToLower(day); d == names[0] || d == names[1] {
			name := t.T("day." + strconv.Itoa(i))
			return strings.ToUpper(name[:1]) + name[1:]
		}
	}
	return day
}

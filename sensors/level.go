package sensors

import "fmt"

// Level is an alert level on the Chinese four-colour early-warning scale:
// 1 red is the most severe, 4 blue the least. Zero means no alert.
type Level uint8

// Levels, most severe first.
const (
	LevelNone   Level = 0
	LevelRed    Level = 1 // 一级, critical
	LevelOrange Level = 2 // 二级, major
	LevelYellow Level = 3 // 三级, minor
	LevelBlue   Level = 4 // 四级, warning
)

// MoreSevere reports whether l is more severe than o. LevelNone is less
// severe than every level.
func (l Level) MoreSevere(o Level) bool {
	if l == LevelNone {
		return false
	}
	return o == LevelNone || l < o
}

// Color is the level's colour name: red, orange, yellow or blue.
func (l Level) Color() string {
	switch l {
	case LevelRed:
		return "red"
	case LevelOrange:
		return "orange"
	case LevelYellow:
		return "yellow"
	case LevelBlue:
		return "blue"
	}
	return "none"
}

// Severity is the English severity name operators outside China expect.
func (l Level) Severity() string {
	switch l {
	case LevelRed:
		return "critical"
	case LevelOrange:
		return "major"
	case LevelYellow:
		return "minor"
	case LevelBlue:
		return "warning"
	}
	return "none"
}

func (l Level) String() string {
	if l == LevelNone {
		return "none"
	}
	return fmt.Sprintf("%d-%s", uint8(l), l.Color())
}

// ParseLevel accepts 1-4 or a colour name.
func ParseLevel(s string) (Level, error) {
	switch s {
	case "1", "red", "critical":
		return LevelRed, nil
	case "2", "orange", "major":
		return LevelOrange, nil
	case "3", "yellow", "minor":
		return LevelYellow, nil
	case "4", "blue", "warning":
		return LevelBlue, nil
	}
	return LevelNone, fmt.Errorf("unknown level %q (want 1-4 or red, orange, yellow, blue)", s)
}

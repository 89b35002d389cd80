// Unit conversion: convert_angle, convert_energy, convert_force, convert_length, convert_mass,
// convert_speed, convert_temperature, convert_volume. The unit names are the docs' lists (those
// of the .NET UnitsNet library); each unit is an affine map to the family's base unit
// (base = value * scale + offset: only temperatures have offsets) with the same defining
// constants as UnitsNet, so that the documented results are reproduced. Unit names match
// case-insensitively; an unknown unit gives null.
#include <cmath>
#include <numbers>

#include "kql/functions/function_util.h"

namespace cmk::kql::fn {
namespace {

struct Unit {
  std::string_view name;
  double scale;
  double offset = 0;
};

constexpr double kDeg = 180 / std::numbers::pi;  // degrees per radian
constexpr Unit kAngle[] = {  // base: degree ("Tilt" is sin(angle), handled apart)
    {"Arcminute", 1.0 / 60},      {"Arcsecond", 1.0 / 3600},    {"Centiradian", 1e-2 * kDeg},
    {"Deciradian", 1e-1 * kDeg},  {"Degree", 1},                {"Gradian", 0.9},
    {"Microdegree", 1e-6},        {"Microradian", 1e-6 * kDeg}, {"Millidegree", 1e-3},
    {"Milliradian", 1e-3 * kDeg}, {"Nanodegree", 1e-9},         {"Nanoradian", 1e-9 * kDeg},
    {"NatoMil", 360.0 / 6400},    {"Radian", kDeg},             {"Revolution", 360},
};

constexpr double kBtu = 1055.05585262, kEv = 1.602176565e-19, kWh = 3600, kWd = 86400;
constexpr Unit kEnergy[] = {  // base: joule
    {"BritishThermalUnit", kBtu},      {"Calorie", 4.184},
    {"DecathermEc", 1.05505585262e9},  {"DecathermImperial", 1.05505585257348e9},
    {"DecathermUs", 1.054804e9},       {"ElectronVolt", kEv},
    {"Erg", 1e-7},                     {"FootPound", 1.355817948},
    {"GigabritishThermalUnit", kBtu * 1e9}, {"GigaelectronVolt", kEv * 1e9},
    {"Gigajoule", 1e9},                {"GigawattDay", kWd * 1e9},
    {"GigawattHour", kWh * 1e9},       {"HorsepowerHour", 2.6845195377e6},
    {"Joule", 1},                      {"KilobritishThermalUnit", kBtu * 1e3},
    {"Kilocalorie", 4184},             {"KiloelectronVolt", kEv * 1e3},
    {"Kilojoule", 1e3},                {"KilowattDay", kWd * 1e3},
    {"KilowattHour", kWh * 1e3},       {"MegabritishThermalUnit", kBtu * 1e6},
    {"Megacalorie", 4.184e6},          {"MegaelectronVolt", kEv * 1e6},
    {"Megajoule", 1e6},                {"MegawattDay", kWd * 1e6},
    {"MegawattHour", kWh * 1e6},       {"Millijoule", 1e-3},
    {"TeraelectronVolt", kEv * 1e12},  {"TerawattDay", kWd * 1e12},
    {"TerawattHour", kWh * 1e12},      {"ThermEc", 1.05505585262e8},
    {"ThermImperial", 1.05505585257348e8}, {"ThermUs", 1.054804e8},
    {"WattDay", kWd},                  {"WattHour", kWh},
};

constexpr double kLbf = 4.4482216152605;
constexpr Unit kForce[] = {  // base: newton
    {"Decanewton", 10},        {"Dyn", 1e-5},           {"KilogramForce", 9.80665},
    {"Kilonewton", 1e3},       {"KiloPond", 9.80665},   {"KilopoundForce", kLbf * 1e3},
    {"Meganewton", 1e6},       {"Micronewton", 1e-6},   {"Millinewton", 1e-3},
    {"Newton", 1},             {"OunceForce", kLbf / 16}, {"Poundal", 0.138254954376},
    {"PoundForce", kLbf},      {"ShortTonForce", kLbf * 2000}, {"TonneForce", 9806.65},
};

constexpr double kInch = 2.54e-2, kLy = 9.46073047258e15, kPc = 3.08567758128e16;
constexpr Unit kLength[] = {  // base: meter
    {"Angstrom", 1e-10},          {"AstronomicalUnit", 1.4959787070e11}, {"Centimeter", 1e-2},
    {"Chain", 20.1168},           {"DataMile", 1828.8},        {"Decameter", 10},
    {"Decimeter", 0.1},           {"DtpPica", kInch / 6},      {"DtpPoint", kInch / 72},
    {"Fathom", 1.8288},           {"Foot", 0.3048},            {"Hand", 0.1016},
    {"Hectometer", 100},          {"Inch", kInch},             {"KilolightYear", kLy * 1e3},
    {"Kilometer", 1e3},           {"Kiloparsec", kPc * 1e3},   {"LightYear", kLy},
    {"MegalightYear", kLy * 1e6}, {"Megaparsec", kPc * 1e6},   {"Meter", 1},
    {"Microinch", kInch * 1e-6},  {"Micrometer", 1e-6},        {"Mil", kInch * 1e-3},
    {"Mile", 1609.344},           {"Millimeter", 1e-3},        {"Nanometer", 1e-9},
    {"NauticalMile", 1852},       {"Parsec", kPc},             {"PrinterPica", 1 / 237.106301584},
    {"PrinterPoint", kInch / 72.27}, {"Shackle", 27.432},      {"SolarRadius", 6.95510000e8},
    {"Twip", kInch / 1440},       {"UsSurveyFoot", 1200.0 / 3937}, {"Yard", 0.9144},
};

constexpr double kLb = 0.45359237;
constexpr Unit kMass[] = {  // base: kilogram
    {"Centigram", 1e-5},         {"Decagram", 1e-2},       {"Decigram", 1e-4},
    {"EarthMass", 5.9722e24},    {"Grain", 6.479891e-5},   {"Gram", 1e-3},
    {"Hectogram", 0.1},          {"Kilogram", 1},          {"Kilopound", kLb * 1e3},
    {"Kilotonne", 1e6},          {"LongHundredweight", 50.80234544}, {"LongTon", 1016.0469088},
    {"Megapound", kLb * 1e6},    {"Megatonne", 1e9},       {"Microgram", 1e-9},
    {"Milligram", 1e-6},         {"Nanogram", 1e-12},      {"Ounce", 0.028349523125},
    {"Pound", kLb},              {"ShortHundredweight", 45.359237}, {"ShortTon", 907.18474},
    {"Slug", 1 / 6.852176556196105e-2}, {"SolarMass", 1.98947e30}, {"Stone", 6.35029318},
    {"Tonne", 1e3},
};

constexpr double kFt = 0.3048, kUsFt = 1200.0 / 3937, kYd = 0.9144;
constexpr Unit kSpeed[] = {  // base: meter per second
    {"CentimeterPerHour", 1e-2 / 3600},  {"CentimeterPerMinute", 1e-2 / 60}, {"CentimeterPerSecond", 1e-2},
    {"DecimeterPerMinute", 1e-1 / 60},   {"DecimeterPerSecond", 1e-1},       {"FootPerHour", kFt / 3600},
    {"FootPerMinute", kFt / 60},         {"FootPerSecond", kFt},             {"InchPerHour", kInch / 3600},
    {"InchPerMinute", kInch / 60},       {"InchPerSecond", kInch},           {"KilometerPerHour", 1e3 / 3600},
    {"KilometerPerMinute", 1e3 / 60},    {"KilometerPerSecond", 1e3},        {"Knot", 1852.0 / 3600},
    {"MeterPerHour", 1.0 / 3600},        {"MeterPerMinute", 1.0 / 60},       {"MeterPerSecond", 1},
    {"MicrometerPerMinute", 1e-6 / 60},  {"MicrometerPerSecond", 1e-6},      {"MilePerHour", 1609.344 / 3600},
    {"MillimeterPerHour", 1e-3 / 3600},  {"MillimeterPerMinute", 1e-3 / 60}, {"MillimeterPerSecond", 1e-3},
    {"NanometerPerMinute", 1e-9 / 60},   {"NanometerPerSecond", 1e-9},       {"UsSurveyFootPerHour", kUsFt / 3600},
    {"UsSurveyFootPerMinute", kUsFt / 60}, {"UsSurveyFootPerSecond", kUsFt}, {"YardPerHour", kYd / 3600},
    {"YardPerMinute", kYd / 60},         {"YardPerSecond", kYd},
};

constexpr Unit kTemperature[] = {  // base: kelvin
    {"DegreeCelsius", 1, 273.15},
    {"DegreeDelisle", -2.0 / 3, 373.15},
    {"DegreeFahrenheit", 5.0 / 9, 459.67 * 5 / 9},
    {"DegreeNewton", 100.0 / 33, 273.15},
    {"DegreeRankine", 5.0 / 9, 0},
    {"DegreeReaumur", 5.0 / 4, 273.15},
    {"DegreeRoemer", 40.0 / 21, 273.15 - 7.5 * 40 / 21},
    {"Kelvin", 1, 0},
    {"MillidegreeCelsius", 1e-3, 273.15},
    {"SolarTemperature", 5778, 0},
};

constexpr double kUsGal = 0.003785411784, kImpGal = 0.00454609, kFt3 = 0.0283168;
constexpr Unit kVolume[] = {  // base: cubic meter
    {"AcreFoot", 1 / 0.000810714},        {"AuTablespoon", 2e-5},             {"BoardFoot", 2.3597372158e-3},
    {"Centiliter", 1e-5},                 {"CubicCentimeter", 1e-6},          {"CubicDecimeter", 1e-3},
    {"CubicFoot", kFt3},                  {"CubicHectometer", 1e6},           {"CubicInch", 1.6387e-5},
    {"CubicKilometer", 1e9},              {"CubicMeter", 1},                  {"CubicMicrometer", 1e-18},
    {"CubicMile", 4.16818182544058e9},    {"CubicMillimeter", 1e-9},          {"CubicYard", 0.764554858},
    {"Decaliter", 1e-2},                  {"DecausGallon", kUsGal * 10},      {"Deciliter", 1e-4},
    {"DeciusGallon", kUsGal / 10},        {"HectocubicFoot", kFt3 * 100},     {"HectocubicMeter", 100},
    {"Hectoliter", 0.1},                  {"HectousGallon", kUsGal * 100},    {"ImperialBeerBarrel", 0.16365924},
    {"ImperialGallon", kImpGal},          {"ImperialOunce", 2.8413062499962901241875439064617e-5},
    {"ImperialPint", 5.6826125e-4},       {"KilocubicFoot", kFt3 * 1e3},      {"KilocubicMeter", 1e3},
    {"KiloimperialGallon", kImpGal * 1e3}, {"Kiloliter", 1},                  {"KilousGallon", kUsGal * 1e3},
    {"Liter", 1e-3},                      {"MegacubicFoot", kFt3 * 1e6},      {"MegaimperialGallon", kImpGal * 1e6},
    {"Megaliter", 1e3},                   {"MegausGallon", kUsGal * 1e6},     {"MetricCup", 0.00025},
    {"MetricTeaspoon", 0.5e-5},           {"Microliter", 1e-9},               {"Milliliter", 1e-6},
    {"OilBarrel", 0.158987294928},        {"UkTablespoon", 1.5e-5},           {"UsBeerBarrel", 0.1173477658},
    {"UsCustomaryCup", 0.0002365882365},  {"UsGallon", kUsGal},               {"UsLegalCup", 0.00024},
    {"UsOunce", 2.957352956253760505068307980135e-5}, {"UsPint", 4.73176473e-4}, {"UsQuart", 9.46352946e-4},
    {"UsTablespoon", 1.478676478125e-5},  {"UsTeaspoon", 4.92892159375e-6},
};

const Unit* FindUnit(std::span<const Unit> units, std::string_view name) {
  for (const Unit& u : units) {
    if (EqualsNoCase(u.name, name)) return &u;
  }
  return nullptr;
}

// Angle's Tilt is the sine of the angle (UnitsNet's definition), not a linear unit.
std::optional<double> ToBase(std::span<const Unit> units, bool angle, std::string_view from, double v) {
  if (angle && EqualsNoCase(from, "Tilt")) return std::asin(v) * kDeg;
  const Unit* u = FindUnit(units, from);
  if (u == nullptr) return std::nullopt;
  return v * u->scale + u->offset;
}

std::optional<double> FromBase(std::span<const Unit> units, bool angle, std::string_view to, double v) {
  if (angle && EqualsNoCase(to, "Tilt")) return std::sin(v / kDeg);
  const Unit* u = FindUnit(units, to);
  if (u == nullptr) return std::nullopt;
  return (v - u->offset) / u->scale;
}

Result<Type> ConvertArgs(std::string_view fn, Types t) {
  if (!IsNumeric(t[0])) return ArgTypeError(fn, 0, t[0], "a number");
  for (size_t i = 1; i < 3; ++i) {
    if (t[i] != Type::kString) return ArgTypeError(fn, i, t[i], "string");
  }
  return Type::kReal;
}

void AddConvert(Registry& r, std::string_view name, std::span<const Unit> units, bool angle = false) {
  r.Function({name, 3, 3, [name](Types t) { return ConvertArgs(name, t); },
              [units, angle](Args a, const FunctionContext& ctx) -> Result<Column> {
                Shape s = ShapeOf(a, ctx);
                Column out = MakeColumn(Type::kReal, s);
                for (size_t i = 0; i < s.rows; ++i) {
                  std::optional<double> base;
                  if (!a[0]->IsNull(i)) base = ToBase(units, angle, a[1]->Str(i), NumAt(*a[0], i));
                  std::optional<double> v = base ? FromBase(units, angle, a[2]->Str(i), *base) : std::nullopt;
                  if (v) out.reals[i] = *v;
                  else SetNull(out, i);
                }
                return out;
              }});
}

}  // namespace

void RegisterUnits(Registry& r) {
  AddConvert(r, "convert_angle", kAngle, true);
  AddConvert(r, "convert_energy", kEnergy);
  AddConvert(r, "convert_force", kForce);
  AddConvert(r, "convert_length", kLength);
  AddConvert(r, "convert_mass", kMass);
  AddConvert(r, "convert_speed", kSpeed);
  AddConvert(r, "convert_temperature", kTemperature);
  AddConvert(r, "convert_volume", kVolume);
}

}  // namespace cmk::kql::fn

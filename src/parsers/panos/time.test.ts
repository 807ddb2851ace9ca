import { isoTime, parsePanosTime } from './time';

const H = 3_600_000;

describe('parsers/panos > time', () => {
  it('parses the CSV time columns in the configured zone', () => {
    expect(parsePanosTime('2018/11/30 16:09:07', 0)).toBe(Date.UTC(2018, 10, 30, 16, 9, 7));
    expect(parsePanosTime('2018/11/30 16:09:07', 9.5 * H)).toBe(Date.UTC(2018, 10, 30, 6, 39, 7));
    expect(parsePanosTime('2018/11/30 16:09:07', -5 * H)).toBe(Date.UTC(2018, 10, 30, 21, 9, 7));
  });

  it('keeps the zone of ISO times and applies the configured one when absent', () => {
    expect(parsePanosTime('2024-06-14T14:30:15.154-04:00', 9 * H)).toBe(Date.UTC(2024, 5, 14, 18, 30, 15, 154));
    expect(parsePanosTime('2021-10-22T16:10:10.000000Z', -5 * H)).toBe(Date.UTC(2021, 9, 22, 16, 10, 10));
    expect(parsePanosTime('2024-04-09T20:43:29+02:00', 0)).toBe(Date.UTC(2024, 3, 9, 18, 43, 29));
    expect(parsePanosTime('2024-04-09T20:43:29+0200', 0)).toBe(Date.UTC(2024, 3, 9, 18, 43, 29));
    expect(parsePanosTime('2024-04-09T20:43:29.5', 2 * H)).toBe(Date.UTC(2024, 3, 9, 18, 43, 29, 500));
  });

  it('parses CEF times and epoch values', () => {
    expect(parsePanosTime('Mar 01 2021 20:48:21', 0)).toBe(Date.UTC(2021, 2, 1, 20, 48, 21));
    expect(parsePanosTime('Mar 01 2021 20:48:21 GMT', 2 * H)).toBe(Date.UTC(2021, 2, 1, 20, 48, 21));
    expect(parsePanosTime('Mar 01 2021 20:48:21 +01:00', 0)).toBe(Date.UTC(2021, 2, 1, 19, 48, 21));
    expect(parsePanosTime('1659271584000', 0)).toBe(1659271584000);
    expect(parsePanosTime('1659271584', 0)).toBe(1659271584000);
  });

  it.each(['', 'yesterday', '2018/13/30 16:09:07', '2023/02/29 00:00:00', '2018/11/30 24:00:00', '2018/11/30 16:09', '2018-11-30T16:09:07+25:00', '2018-11-30T16:09:07.', 'Foo 01 2021 20:48:21', '12345', '0099/01/01 00:00:00'])(
    'returns NaN for %p',
    (s) => {
      expect(parsePanosTime(s, 0)).toBeNaN();
    },
  );

  it('accepts 29 February in a leap year', () => {
    expect(parsePanosTime('2024/02/29 12:00:00', 0)).toBe(Date.UTC(2024, 1, 29, 12));
  });

  it('formats like Date#toISOString', () => {
    for (const ms of [0, Date.UTC(2024, 1, 29, 23, 59, 59, 999), Date.UTC(1999, 11, 31), -1, 1659271584123]) {
      expect(isoTime(ms)).toBe(new Date(ms).toISOString());
    }
    expect(isoTime(NaN)).toBeUndefined();
    expect(isoTime(Number.MAX_SAFE_INTEGER)).toBeUndefined();
  });
});

"""Write a synthetic DISINFOX bulk CSV (the upstream column layout) with N incidents.

    python3 bench/make_csv.py 10000 > bulk.csv
"""
import csv
import random
import sys

TECHNIQUES = ["T0002_Facilitate State Propaganda", "T0049.003_Bots Amplify via Automated Forwarding and Reposting",
              "T0015.001_Use Existing Hashtag", "T0087_Develop Video-Based Content", "T0007_Create fake Social Media Profiles"]
CHANNELS = ["Facebook", "Instagram", "X", "Youtube", "TikTok", "Telegram"]
COUNTRIES = ["Ukraine", "France", "Germany", "Poland", "US", "UK", "Moldova", "Georgia"]
ACTORS = ["Russia", "China", "Iran", "IRA*", "Russia,Belarus"]


def main() -> None:
    n = int(sys.argv[1])
    rnd = random.Random(1)
    w = csv.writer(sys.stdout, lineterminator="\n")
    header = ["Year", "Target Country", "Event", "Region", "Sub-region", "Country of Origin", "Threat Actor",
              "Event description", *TECHNIQUES, *CHANNELS, "Cyber Attacks", "Attribution Source: Government",
              "Attribution Source: Platform", "Attribution Source: Company",
              "Attribution Source: Researchers/Journalists", *[f"Source {i}" for i in range(1, 9)]]
    w.writerow(header)
    for i in range(n):
        row = [str(2015 + i % 10), rnd.choice(COUNTRIES), f"Synthetic event {i}", "Europe", "Eastern Europe",
               "Russia", rnd.choice(ACTORS), f"Synthetic description of event {i}, with \"quotes\".\nSecond line."]
        row += [rnd.choice(["0", "1", "1", "`1", ""]) for _ in TECHNIQUES]
        row += [rnd.choice(["0", "1"]) for _ in CHANNELS]
        row += ["0", "1", "0", "0", "1"]
        row += [f"https://example.org/{i}/{k}" if k < 2 else "" for k in range(8)]
        w.writerow(row)


if __name__ == "__main__":
    main()

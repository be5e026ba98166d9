"""kiln's metrics against scikit-learn on random cases, many of them with tied scores.

usage: python metrics_sklearn.py TOOL
TOOL is metrics_tool (C++). roc_auc and average_precision are compared with
sklearn.metrics.roc_auc_score and average_precision_score; NDCG@k of ranked lists
with sklearn.metrics.ndcg_score (binary relevance; the ranked list scored above every
other item, in its order). They must agree to 1e-12. A case with one class only must
be an error in kiln (scikit-learn refuses it too). Fixed seed; exits 77 (skipped)
where scikit-learn is missing.
"""
import random
import subprocess
import sys

try:
    import numpy as np
    from sklearn.metrics import average_precision_score, ndcg_score, roc_auc_score
except ImportError as e:
    print(f"metrics_sklearn: skipped, scikit-learn is missing ({e}); scripts/test.sh installs it")
    sys.exit(77)


def binary_cases(rng, count):
    for _ in range(count):
        n = rng.choice([2, 3, 5, 10, 50, 300, 2000])
        p = rng.random()
        labels = [int(rng.random() < p) for _ in range(n)]
        levels = rng.choice([2, 3, 10, 1000, None])  # few levels: many tied scores
        if levels is None:
            scores = [rng.gauss(0, 1) + (0.5 * l if rng.random() < 0.7 else 0) for l in labels]
        else:
            scores = [rng.randrange(levels) / levels + (0.3 * l if rng.random() < 0.5 else 0) for l in labels]
        if rng.random() < 0.05:
            scores = [s * 1e300 for s in scores]
        yield scores, labels


def ranking_case(rng):
    """Users with up to 60 candidate items each: (k, [(ranked, relevant, items)])."""
    k = rng.choice([1, 3, 10, 20])
    users = []
    for _ in range(rng.randint(1, 30)):
        items = rng.randint(2, 60)
        order = rng.sample(range(items), items)
        relevant = rng.sample(range(items), rng.randint(0, min(items, 15)))
        users.append((order[: min(k, items)], relevant, order))
    return k, users


def sklearn_ndcg(k, users):
    values = []
    for ranked, relevant, order in users:
        if not relevant:
            continue  # kiln skips users without relevant items
        items = len(order)
        truth = np.zeros((1, items))
        truth[0, relevant] = 1
        score = np.zeros((1, items))
        for position, item in enumerate(order):
            score[0, item] = items - position  # distinct, the ranked list first
        values.append(ndcg_score(truth, score, k=k))
    return (float(np.mean(values)) if values else 0.0), len(values)


def main():
    tool = sys.argv[1]
    rng = random.Random(12)
    binaries = list(binary_cases(rng, 1500))
    rankings = [ranking_case(rng) for _ in range(300)]
    lines = []
    for scores, labels in binaries:
        lines.append(f"binary {len(scores)} {' '.join(repr(s) for s in scores)} {' '.join(map(str, labels))}")
    for k, users in rankings:
        lines.append(f"ranking {len(users)} {k}")
        for ranked, relevant, _ in users:
            lines.append(f"{len(ranked)} {' '.join(map(str, ranked))} {len(relevant)} {' '.join(map(str, relevant))}")
    out = subprocess.run([tool], input="\n".join(lines) + "\n", capture_output=True, text=True, check=True)
    results = out.stdout.splitlines()
    if len(results) != len(binaries) + len(rankings):
        print(f"metrics_sklearn: {len(results)} results for {len(binaries) + len(rankings)} cases")
        return 1

    failed = compared = refused = 0
    for (scores, labels), line in zip(binaries, results):
        one_class = len(set(labels)) < 2
        if one_class or line == "error":
            refused += one_class
            if one_class != (line == "error"):
                failed += 1
                print(f"binary case of {len(labels)}: one class only {one_class}, kiln says {line!r}")
            continue
        auc, ap = map(float, line.split())
        want_auc, want_ap = roc_auc_score(labels, scores), average_precision_score(labels, scores)
        compared += 1
        if abs(auc - want_auc) > 1e-12 or abs(ap - want_ap) > 1e-12:
            failed += 1
            print(f"binary case of {len(labels)}: kiln AUC {auc} AP {ap}, sklearn {want_auc} {want_ap}")
    for (k, users), line in zip(rankings, results[len(binaries):]):
        ndcg, users_seen = float(line.split()[0]), int(line.split()[4])
        want, want_users = sklearn_ndcg(k, users)
        compared += 1
        if abs(ndcg - want) > 1e-12 or users_seen != want_users:
            failed += 1
            print(f"ranking case, k {k}: kiln NDCG {ndcg} over {users_seen} users, sklearn {want} over {want_users}")

    print(f"metrics_sklearn: {compared} cases compared, {refused} one-class cases refused, {failed} disagreements")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

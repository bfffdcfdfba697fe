"""The official evaluator's numeric ids of the VRD labels: they only decide the order in which
an image's label tuples are visited, and so how equal confidences in different tuples of one
image are ordered (see metric.py).

The challenge's evaluation instructions (tensorflow/models research/object_detection/g3doc/
challenge_evaluation.md) run the VRD evaluator with the detection track's 500-class label map
(oid_object_detection_challenge_500_label_map.pbtxt, ids 1..500) extended by the five
attributes as ids 602..606, and the relationships numbered 1..10 in the order of
files.RELATIONSHIPS. Below are the ids of the 57 VRD classes (from that label map) and of the
5 attributes, sorted by id.
"""

OFFICIAL_LABEL_IDS: dict[str, int] = {
    "/m/0dv5r": 6,  # Camera
    "/m/0l14j_": 19,  # Flute
    "/m/03ssj5": 32,  # Bed
    "/m/03qrc": 33,  # Hamster
    "/m/0342h": 58,  # Guitar
    "/m/0k4j": 64,  # Car
    "/m/019w40": 70,  # Surfboard
    "/m/0cvnqh": 72,  # Bench
    "/m/04ctx": 80,  # Knife
    "/m/080hkjn": 81,  # Handbag
    "/m/01226z": 91,  # Football
    "/m/01mzpv": 100,  # Chair
    "/m/04yx4": 114,  # Man
    "/m/0cmx8": 123,  # Spoon
    "/m/0199g": 131,  # Bicycle
    "/m/04bcr3": 135,  # Table
    "/m/03bt1vf": 165,  # Woman
    "/m/01s55n": 170,  # Suitcase
    "/m/07y_7": 175,  # Violin
    "/m/01_5g": 176,  # Chopsticks
    "/m/078jl": 182,  # Snake
    "/m/02p5f1q": 187,  # Coffee cup
    "/m/0fx9l": 188,  # Microwave oven
    "/m/01599": 193,  # Beer
    "/m/071p9": 220,  # Ski
    "/m/026t6": 225,  # Drum
    "/m/0hg7b": 234,  # Microphone
    "/m/0dt3t": 244,  # Fork
    "/m/0h8my_4": 253,  # Tennis racket
    "/m/01yrx": 259,  # Cat
    "/m/050k8": 262,  # Mobile phone
    "/m/0pg52": 263,  # Taxi
    "/m/0bwd_0j": 271,  # Elephant
    "/m/0h2r6": 282,  # Van
    "/m/01f91_": 296,  # Pretzel
    "/m/03m3pdh": 308,  # Sofa bed
    "/m/03k3r": 309,  # Horse
    "/m/01y9k5": 311,  # Desk
    "/m/08pbxl": 347,  # Monkey
    "/m/02jvh9": 351,  # Mug
    "/m/05r655": 361,  # Girl
    "/m/09tvcd": 369,  # Wine glass
    "/m/0dv9c": 371,  # Racket
    "/m/05ctyq": 376,  # Tennis ball
    "/m/078n6m": 383,  # Coffee table
    "/m/0wdt60w": 390,  # Rugby ball
    "/m/0584n8": 413,  # Briefcase
    "/m/01bl7v": 419,  # Boy
    "/m/04_sv": 432,  # Motorcycle
    "/m/05r5c": 442,  # Piano
    "/m/029bxz": 449,  # Oven
    "/m/06__v": 453,  # Snowboard
    "/m/04dr76w": 465,  # Bottle
    "/m/05_5p_0": 481,  # Table tennis racket
    "/m/02hj4": 488,  # Dolphin
    "/m/0bt9lr": 489,  # Dog
    "/m/01940j": 495,  # Backpack
    "/m/02gy9n": 602,  # Transparent
    "/m/05z87": 603,  # Plastic
    "/m/0dnr7": 604,  # (made of)Textile
    "/m/04lbp": 605,  # (made of)Leather
    "/m/083vt": 606,  # Wooden
}

__all__ = ["OFFICIAL_LABEL_IDS"]

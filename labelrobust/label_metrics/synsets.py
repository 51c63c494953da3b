"""Reviewed class name → WordNet 3.0 noun synset tables, for the WordNet label metrics.

A class name's first WordNet sense is often not what the dataset's images show (``ray`` is
first a beam of light, ``seal`` a wax seal, ``tank`` a vessel for liquids), so every class
gets an explicit synset name, each checked against its WordNet definition. ``*_REASONS``
says why for every pick that is not the name's first noun sense (or where the name has no
synset of its own); the test suite checks both against WordNet when it is installed.

Tiny-ImageNet's classes are WordNet noun ids already (``n`` + the 8-digit offset in
``data.noun`` of WordNet 3.0, which ImageNet uses); its table maps each class name (the
synset's first lemma, ``_`` → space, which is also the first name of the class in the
dataset's ``words.txt``) to that id, so a class can be matched by name or by wnid.
"""

from __future__ import annotations

# The dataset's own meta names, in label order.
CIFAR10: dict[str, str] = {
    "airplane": "airplane.n.01",
    "automobile": "car.n.01",
    "bird": "bird.n.01",
    "cat": "cat.n.01",
    "deer": "deer.n.01",
    "dog": "dog.n.01",
    "frog": "frog.n.01",
    "horse": "horse.n.01",
    "ship": "ship.n.01",
    "truck": "truck.n.01",
}

# Every CIFAR-10 pick is its name's first noun sense ("automobile" is a lemma of car.n.01).
CIFAR10_REASONS: dict[str, str] = {}

# The 100 fine labels, in label (alphabetical) order.
CIFAR100: dict[str, str] = {
    "apple": "apple.n.01",  # the fruit, like orange/pear (CIFAR-100 superclass "fruit and vegetables")
    "aquarium_fish": "goldfish.n.01",  # no "aquarium fish" synset: see CIFAR100_REASONS
    "baby": "baby.n.01",
    "bear": "bear.n.01",
    "beaver": "beaver.n.07",  # the first six senses are the fur, a beard, hats, armour ...
    "bed": "bed.n.01",
    "bee": "bee.n.01",
    "beetle": "beetle.n.01",
    "bicycle": "bicycle.n.01",
    "bottle": "bottle.n.01",
    "bowl": "bowl.n.01",  # the vessel, not bowl.n.03 (a serving dish)
    "boy": "male_child.n.01",
    "bridge": "bridge.n.01",
    "bus": "bus.n.01",
    "butterfly": "butterfly.n.01",
    "camel": "camel.n.01",
    "can": "can.n.01",
    "castle": "castle.n.02",  # castle.n.01 is palace.n.01, a stately mansion
    "caterpillar": "caterpillar.n.01",
    "cattle": "cattle.n.01",
    "chair": "chair.n.01",
    "chimpanzee": "chimpanzee.n.01",
    "clock": "clock.n.01",
    "cloud": "cloud.n.02",  # the weather cloud; cloud.n.01 is any visible mass of particles
    "cockroach": "cockroach.n.01",
    "couch": "sofa.n.01",
    "crab": "crab.n.01",
    "crocodile": "crocodile.n.01",
    "cup": "cup.n.01",
    "dinosaur": "dinosaur.n.01",
    "dolphin": "dolphin.n.02",  # the toothed whale; the first sense is the dolphinfish
    "elephant": "elephant.n.01",
    "flatfish": "flatfish.n.02",  # the animal; flatfish.n.01 is its flesh as food
    "forest": "forest.n.02",  # questionable: the land, like mountain/plain/sea; n.01 is its vegetation
    "fox": "fox.n.01",
    "girl": "female_child.n.01",  # questionable: the child, like boy; girl.n.01 is "a young woman"
    "hamster": "hamster.n.01",
    "house": "house.n.01",
    "kangaroo": "kangaroo.n.01",
    "keyboard": "keyboard.n.01",  # keys of a piano or a computer (CIFAR-100 has both)
    "lamp": "lamp.n.02",  # questionable: the furniture; lamp.n.01 is any light source
    "lawn_mower": "lawn_mower.n.01",
    "leopard": "leopard.n.02",  # the cat; leopard.n.01 is its pelt
    "lion": "lion.n.01",
    "lizard": "lizard.n.01",
    "lobster": "lobster.n.02",  # the animal; lobster.n.01 is its flesh
    "man": "man.n.01",
    "maple_tree": "maple.n.02",  # no "maple_tree" lemma: see CIFAR100_REASONS
    "motorcycle": "motorcycle.n.01",
    "mountain": "mountain.n.01",
    "mouse": "mouse.n.01",  # the rodent, not mouse.n.04 (the computer device)
    "mushroom": "mushroom.n.05",  # questionable: the edible fungus (ImageNet's choice too)
    "oak_tree": "oak.n.02",  # the only synset with the lemma "oak_tree"
    "orange": "orange.n.01",
    "orchid": "orchid.n.01",
    "otter": "otter.n.02",  # the animal; otter.n.01 is its fur
    "palm_tree": "palm.n.03",  # the only synset with the lemma "palm_tree"
    "pear": "pear.n.01",
    "pickup_truck": "pickup.n.01",
    "pine_tree": "pine.n.01",
    "plain": "plain.n.01",
    "plate": "plate.n.04",  # the dish; the first sense is baseball's home plate
    "poppy": "poppy.n.01",
    "porcupine": "porcupine.n.01",
    "possum": "opossum.n.02",  # the American opossum; phalanger.n.01 is the Australian possum
    "rabbit": "rabbit.n.01",
    "raccoon": "raccoon.n.02",  # the animal; raccoon.n.01 is its fur
    "ray": "ray.n.07",  # the fish; the first sense is a beam of light
    "road": "road.n.01",
    "rocket": "rocket.n.01",
    "rose": "rose.n.01",
    "sea": "sea.n.01",
    "seal": "seal.n.09",  # the marine mammal; the first sense is sealing wax
    "shark": "shark.n.01",
    "shrew": "shrew.n.02",  # the animal; shrew.n.01 is a scolding woman
    "skunk": "skunk.n.04",  # the animal; the first senses are a rotter, a shutout, marijuana
    "skyscraper": "skyscraper.n.01",
    "snail": "snail.n.01",
    "snake": "snake.n.01",
    "spider": "spider.n.01",
    "squirrel": "squirrel.n.01",
    "streetcar": "streetcar.n.01",
    "sunflower": "sunflower.n.01",
    "sweet_pepper": "sweet_pepper.n.02",  # questionable: the vegetable, like apple/orange/pear as food
    "table": "table.n.02",  # the furniture; table.n.01 is a table of data
    "tank": "tank.n.01",
    "telephone": "telephone.n.01",
    "television": "television_receiver.n.01",  # the set; television.n.01 is broadcasting
    "tiger": "tiger.n.02",  # the cat; tiger.n.01 is a fierce person
    "tractor": "tractor.n.01",
    "train": "train.n.01",
    "trout": "trout.n.02",  # the fish; trout.n.01 is its flesh
    "tulip": "tulip.n.01",
    "turtle": "turtle.n.02",  # the reptile; the first sense is a turtleneck sweater
    "wardrobe": "wardrobe.n.01",
    "whale": "whale.n.02",  # the cetacean; the first sense is a very large person
    "willow_tree": "willow.n.01",
    "wolf": "wolf.n.01",
    "woman": "woman.n.01",
    "worm": "worm.n.01",
}

CIFAR100_REASONS: dict[str, str] = {
    "aquarium_fish": "WordNet has no aquarium-fish synset; goldfish ('used as pond or aquarium fishes') is the commonest aquarium fish and a species like trout and flatfish, where a generic fish.n.01 would be an ancestor of every other fish class",
    "beaver": "the rodent; beaver.n.01..06 are its fur, an Oregonian, a beard, hats and armour",
    "castle": "a fortified castle; castle.n.01 is palace.n.01, a stately mansion",
    "cloud": "a cloud in the sky; cloud.n.01 is any visible mass of particles or gas",
    "dolphin": "the small toothed whale; dolphin.n.01 is the dolphinfish",
    "flatfish": "the fish; flatfish.n.01 is its flesh as food",
    "forest": "the wooded land, like the other outdoor scenes (mountain, plain, sea); forest.n.01 is the trees of such land as a group",
    "girl": "the child, matching boy (male_child.n.01); girl.n.01 is 'a young woman'",
    "lamp": "the piece of furniture that holds a light bulb (table and desk lamps, as the images show); lamp.n.01 is any artificial light source",
    "leopard": "the cat; leopard.n.01 is its pelt",
    "lobster": "the crustacean; lobster.n.01 is its flesh",
    "maple_tree": "WordNet has no maple_tree lemma; maple.n.02 is the tree (genus Acer), maple.n.01 its wood",
    "mushroom": "the edible fungus (hypernym vegetable), matching CIFAR-100's superclass 'fruit and vegetables' and ImageNet's mushroom class; mushroom.n.01 is an edible agaric, a fungus",
    "otter": "the animal; otter.n.01 is its fur",
    "plate": "the dish food is served on; plate.n.01 is baseball's home plate",
    "raccoon": "the animal; raccoon.n.01 is its fur",
    "ray": "the fish (a cartilaginous fish like the shark); ray.n.01 is a beam of light",
    "seal": "the marine mammal; seal.n.01 is sealing wax",
    "shrew": "the small mammal; shrew.n.01 is a scolding woman",
    "skunk": "the animal; skunk.n.01..03 are a despicable person, a shutout and marijuana",
    "sweet_pepper": "the vegetable (the fruit of the plant), like apple, orange and pear, which are fruits as food; sweet_pepper.n.01 is the plant",
    "table": "the furniture; table.n.01 is a table of data",
    "television": "the television set; television.n.01 is broadcasting",
    "tiger": "the cat; tiger.n.01 is a fierce person",
    "trout": "the fish; trout.n.01 is its flesh",
    "turtle": "the reptile; turtle.n.01 is turtleneck.n.01, a sweater",
    "whale": "the cetacean; whale.n.01 is giant.n.04, a very large person",
}

# The 200 classes in sorted-wnid order (the loader's label order), each named as above.
TINY_IMAGENET: dict[str, str] = {
    "goldfish": "n01443537",
    "European fire salamander": "n01629819",
    "bullfrog": "n01641577",
    "tailed frog": "n01644900",
    "American alligator": "n01698640",
    "boa constrictor": "n01742172",
    "trilobite": "n01768244",
    "scorpion": "n01770393",
    "black widow": "n01774384",
    "tarantula": "n01774750",
    "centipede": "n01784675",
    "goose": "n01855672",
    "koala": "n01882714",
    "jellyfish": "n01910747",
    "brain coral": "n01917289",
    "snail": "n01944390",
    "slug": "n01945685",
    "sea slug": "n01950731",
    "American lobster": "n01983481",
    "spiny lobster": "n01984695",
    "black stork": "n02002724",
    "king penguin": "n02056570",
    "albatross": "n02058221",
    "dugong": "n02074367",
    "Chihuahua": "n02085620",
    "Yorkshire terrier": "n02094433",
    "golden retriever": "n02099601",
    "Labrador retriever": "n02099712",
    "German shepherd": "n02106662",
    "standard poodle": "n02113799",
    "tabby": "n02123045",
    "Persian cat": "n02123394",
    "Egyptian cat": "n02124075",
    "cougar": "n02125311",
    "lion": "n02129165",
    "brown bear": "n02132136",
    "ladybug": "n02165456",
    "fly": "n02190166",
    "bee": "n02206856",
    "grasshopper": "n02226429",
    "walking stick": "n02231487",
    "cockroach": "n02233338",
    "mantis": "n02236044",
    "dragonfly": "n02268443",
    "monarch": "n02279972",
    "sulphur butterfly": "n02281406",
    "sea cucumber": "n02321529",
    "guinea pig": "n02364673",
    "hog": "n02395406",
    "ox": "n02403003",
    "bison": "n02410509",
    "bighorn": "n02415577",
    "gazelle": "n02423022",
    "Arabian camel": "n02437312",
    "orangutan": "n02480495",
    "chimpanzee": "n02481823",
    "baboon": "n02486410",
    "African elephant": "n02504458",
    "lesser panda": "n02509815",
    "abacus": "n02666196",
    "academic gown": "n02669723",
    "altar": "n02699494",
    "apron": "n02730930",
    "backpack": "n02769748",
    "bannister": "n02788148",
    "barbershop": "n02791270",
    "barn": "n02793495",
    "barrel": "n02795169",
    "basketball": "n02802426",
    "bathtub": "n02808440",
    "beach wagon": "n02814533",
    "beacon": "n02814860",
    "beaker": "n02815834",
    "beer bottle": "n02823428",
    "bikini": "n02837789",
    "binoculars": "n02841315",
    "birdhouse": "n02843684",
    "bow tie": "n02883205",
    "brass": "n02892201",
    "broom": "n02906734",
    "bucket": "n02909870",
    "bullet train": "n02917067",
    "butcher shop": "n02927161",
    "candle": "n02948072",
    "cannon": "n02950826",
    "cardigan": "n02963159",
    "cash machine": "n02977058",
    "CD player": "n02988304",
    "chain": "n02999410",
    "chest": "n03014705",
    "Christmas stocking": "n03026506",
    "cliff dwelling": "n03042490",
    "computer keyboard": "n03085013",
    "confectionery": "n03089624",
    "convertible": "n03100240",
    "crane": "n03126707",
    "dam": "n03160309",
    "desk": "n03179701",
    "dining table": "n03201208",
    "drumstick": "n03250847",
    "dumbbell": "n03255030",
    "flagpole": "n03355925",
    "fountain": "n03388043",
    "freight car": "n03393912",
    "frying pan": "n03400231",
    "fur coat": "n03404251",
    "gasmask": "n03424325",
    "go-kart": "n03444034",
    "gondola": "n03447447",
    "hourglass": "n03544143",
    "iPod": "n03584254",
    "jinrikisha": "n03599486",
    "kimono": "n03617480",
    "lampshade": "n03637318",
    "lawn mower": "n03649909",
    "lifeboat": "n03662601",
    "limousine": "n03670208",
    "magnetic compass": "n03706229",
    "maypole": "n03733131",
    "military uniform": "n03763968",
    "miniskirt": "n03770439",
    "moving van": "n03796401",
    "nail": "n03804744",
    "neck brace": "n03814639",
    "obelisk": "n03837869",
    "oboe": "n03838899",
    "organ": "n03854065",
    "parking meter": "n03891332",
    "pay-phone": "n03902125",
    "picket fence": "n03930313",
    "pill bottle": "n03937543",
    "plunger": "n03970156",
    "pole": "n03976657",
    "police van": "n03977966",
    "poncho": "n03980874",
    "pop bottle": "n03983396",
    "potter's wheel": "n03992509",
    "projectile": "n04008634",
    "punching bag": "n04023962",
    "reel": "n04067472",
    "refrigerator": "n04070727",
    "remote control": "n04074963",
    "rocking chair": "n04099969",
    "rugby ball": "n04118538",
    "sandal": "n04133789",
    "school bus": "n04146614",
    "scoreboard": "n04149813",
    "sewing machine": "n04179913",
    "snorkel": "n04251144",
    "sock": "n04254777",
    "sombrero": "n04259630",
    "space heater": "n04265275",
    "spider web": "n04275548",
    "sports car": "n04285008",
    "steel arch bridge": "n04311004",
    "stopwatch": "n04328186",
    "sunglasses": "n04356056",
    "suspension bridge": "n04366367",
    "swimming trunks": "n04371430",
    "syringe": "n04376876",
    "teapot": "n04398044",
    "teddy": "n04399382",
    "thatch": "n04417672",
    "torch": "n04456115",
    "tractor": "n04465501",
    "triumphal arch": "n04486054",
    "trolleybus": "n04487081",
    "turnstile": "n04501370",
    "umbrella": "n04507155",
    "vestment": "n04532106",
    "viaduct": "n04532670",
    "volleyball": "n04540053",
    "water jug": "n04560804",
    "water tower": "n04562935",
    "wok": "n04596742",
    "wooden spoon": "n04597913",
    "comic book": "n06596364",
    "plate": "n07579787",
    "guacamole": "n07583066",
    "ice cream": "n07614500",
    "ice lolly": "n07615774",
    "pretzel": "n07695742",
    "mashed potato": "n07711569",
    "cauliflower": "n07715103",
    "bell pepper": "n07720875",
    "mushroom": "n07734744",
    "orange": "n07747607",
    "lemon": "n07749582",
    "banana": "n07753592",
    "pomegranate": "n07768694",
    "meat loaf": "n07871810",
    "pizza": "n07873807",
    "potpie": "n07875152",
    "espresso": "n07920052",
    "alp": "n09193705",
    "cliff": "n09246464",
    "coral reef": "n09256479",
    "lakeside": "n09332890",
    "seashore": "n09428293",
    "acorn": "n12267677",
}

# Tiny-ImageNet's synsets are ImageNet's own choice, not ours to review.
TINY_IMAGENET_REASONS: dict[str, str] = {}

# The shipped tables, in the order wordnet_metric looks for a table holding every class.
TABLES: dict[str, dict[str, str]] = {
    "cifar10": CIFAR10,
    "cifar100": CIFAR100,
    "tiny-imagenet": TINY_IMAGENET,
}

REASONS: dict[str, dict[str, str]] = {
    "cifar10": CIFAR10_REASONS,
    "cifar100": CIFAR100_REASONS,
    "tiny-imagenet": TINY_IMAGENET_REASONS,
}

DATASET_NAMES: dict[str, str] = {
    "cifar10": "CIFAR-10",
    "cifar100": "CIFAR-100",
    "tiny-imagenet": "Tiny-ImageNet",
}

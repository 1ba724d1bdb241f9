"""Week 1 example: a friendly greeting program.

This script demonstrates the three tools every beginner uses first:

* ``input()`` reads a line of text typed by the user and always returns a str.
* ``print()`` writes values to the screen, separated by spaces by default.
* f-strings (``f"..."``) insert values into text inside curly braces.

Run it from a terminal with::

    python hello.py
"""


def ask_name():
    """Ask the user for their name and return it without surrounding spaces.

    ``input()`` shows the prompt, waits for the user to press Enter and returns
    everything typed as a string. ``.strip()`` removes leading and trailing
    whitespace, so "  Ada  " becomes "Ada".
    """
    name = input("What is your name? ").strip()
    if name == "":
        # An empty answer is still a valid string, so we pick a default.
        name = "friend"
    return name


def ask_birth_year():
    """Ask for a birth year and return it as an int.

    ``input()`` returns text such as "2001". Arithmetic needs a number, so the
    text is converted with ``int()``. If the text is not a whole number,
    ``int()`` raises ValueError; week 5 shows how to handle that properly.
    """
    text = input("In which year were you born? ")
    return int(text)


def main():
    """Greet the user and do a small calculation with their answer."""
    name = ask_name()
    year = ask_birth_year()
    current_year = 2024  # fixed so the output is predictable while learning

    age = current_year - year  # int minus int gives an int

    # print() accepts several arguments and separates them with a space.
    print("Hello,", name)

    # The same message with an f-string: values go inside {curly braces}.
    print(f"Hello, {name}! You turn {age} in {current_year}.")

    # Expressions are allowed inside the braces, and a format spec follows ':'.
    months = age * 12
    print(f"That is roughly {months:,} months.")

    # Division with / always produces a float; .1f shows one decimal place.
    decades = age / 10
    print(f"Or about {decades:.1f} decades.")

    # sep and end change what print() puts between and after the values.
    print("a", "b", "c", sep="-")  # prints a-b-c
    print("no newline here", end="!\n")

    # type() reveals what kind of value each variable refers to.
    print(type(name), type(year), type(decades))


# This check means main() runs when the file is executed directly,
# but not when the file is imported as a module by another script.
if __name__ == "__main__":
    main()
